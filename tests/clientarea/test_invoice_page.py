"""The client-area invoice page reads its invoice, lines and transactions in one query, exactly."""

import datetime
from decimal import Decimal

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from billing.selectors import login_invoice_page
from tests.factories import ClientFactory, InvoiceFactory, TransactionFactory

pytestmark = pytest.mark.django_db


def _pay(invoice, amounts, *, first_day=1):
    for n, amount in enumerate(amounts):
        TransactionFactory(
            invoice=invoice,
            amount=amount,
            gateway_transaction_id=f"wire-{invoice.pk}-{n}",
            # Recorded newest first, so the page must sort them by date, not by id.
            paid_at=datetime.datetime(2026, 3, first_day + len(amounts) - n, 9, tzinfo=datetime.UTC),
        )


def test_lines_and_transactions_come_back_exact_in_order_and_only_for_their_owner(customer):
    invoice = InvoiceFactory(client=customer, amounts=["1234.57", "0.10", "19.99"])
    _pay(invoice, ["0.01", "100.00"])

    page = login_invoice_page(user_id=customer.user_id, invoice_id=invoice.pk)

    assert page.invoice.pk == invoice.pk and page.invoice.client.credit_balance == Decimal(0)
    assert (page.invoice.total, page.invoice.status, page.invoice.number) == (
        invoice.total,
        invoice.status,
        invoice.number,
    )
    assert page.invoice.currency.format(Decimal("1234.5")) == "$1,234.50"
    # What the page does not read is deferred, not blank: it loads when something reads it.
    assert page.invoice.client.email == customer.email and page.invoice.notes == invoice.notes
    assert [(line.description, line.amount) for line in page.lines] == [
        ("Line 1", Decimal("1234.57")),
        ("Line 2", Decimal("0.10")),
        ("Line 3", Decimal("19.99")),
    ]
    assert all(type(line.amount) is Decimal for line in page.lines)  # never through a float
    assert [(m.amount_in, m.reference, m.date.day) for m in page.movements] == [
        (Decimal("100.00"), f"wire-{invoice.pk}-1", 2),
        (Decimal("0.01"), f"wire-{invoice.pk}-0", 3),
    ]
    assert all(m.date.tzinfo is not None and m.kind == "payment" for m in page.movements)
    other = ClientFactory(currency=customer.currency)
    assert login_invoice_page(user_id=other.user_id, invoice_id=invoice.pk) is None


def test_an_invoice_without_transactions_has_an_empty_list(customer):
    invoice = InvoiceFactory(client=customer, amounts=["5.00"])
    page = login_invoice_page(user_id=customer.user_id, invoice_id=invoice.pk)
    assert page.movements == [] and len(page.lines) == 1


def test_the_page_makes_the_same_queries_for_2_lines_as_for_12(client, customer):
    client.force_login(customer.user)

    def queries_for(lines, payments):
        invoice = InvoiceFactory(client=customer, amounts=["10.00"] * lines)
        _pay(invoice, ["1.00"] * payments)
        with CaptureQueriesContext(connection) as queries:
            response = client.get(reverse("clientarea:invoice_detail", args=[invoice.pk]))
        page = response.content.decode()
        assert response.status_code == 200
        assert page.count("<td>Line ") == lines and page.count("<td>banktransfer</td>") == payments
        return len(queries)

    few, many = queries_for(2, 1), queries_for(12, 6)
    assert few == many
    # The session, the user, the invoice with everything it shows, the enabled gateways (it is still unpaid).
    assert many == 4


ID_MAX = 2**63 - 1  # a BigAutoField's largest id


@pytest.mark.parametrize("invoice_id", [ID_MAX + 1, 10**30])
def test_an_id_no_database_can_hold_finds_no_invoice(customer, invoice_id):
    InvoiceFactory(client=customer, amounts=["1.00"])

    assert login_invoice_page(user_id=customer.user_id, invoice_id=invoice_id) is None


@pytest.mark.parametrize("raw_id", [str(ID_MAX + 1), "9" * 30, "0", "9" * 5000])
def test_an_invoice_url_with_an_id_out_of_range_is_not_found(customer, raw_id):
    browser = Client(raise_request_exception=False)
    browser.force_login(customer.user)

    for suffix in ("", "pdf/"):
        response = browser.get(f"/invoices/{raw_id}/{suffix}")
        assert response.status_code == 404, f"/invoices/{raw_id[:30]}/{suffix} answered {response.status_code}"
