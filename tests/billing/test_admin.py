"""The billing admin through its own HTTP views, as an admin would click it: lists that stay fast on big tables,
the invoice buttons (each a service call that refuses bad input and then changes nothing), clients with their
credit, tax rules, gateways with secrets, the billing settings and the gateway event retry."""

import re
from decimal import Decimal

import pytest
from django.contrib.messages import get_messages
from django.db import connection
from django.test import Client as HttpClient
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from billing.models import (
    BillingSettings,
    Client,
    GatewayConfig,
    GatewayEvent,
    Invoice,
    TaxRule,
    Transaction,
)
from billing.services import credit_add, invoice_cancel, payment_record
from core.admin_lists import BoundedCountPaginator
from notifications.models import ActivityLog, OutboundEmail
from tests.factories import ClientFactory, InvoiceFactory, TransactionFactory

# --- helpers ---------------------------------------------------------------------------------------------------


def _change_url(invoice: Invoice) -> str:
    return reverse("admin:billing_invoice_change", args=[invoice.pk])


def _action_url(invoice: Invoice, action: str) -> str:
    return reverse("admin:billing_invoice_action", args=[invoice.pk, action])


def _messages(response) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]


def _state(invoice: Invoice) -> dict:
    """Every row a refused action could have touched, to compare before and after."""
    return {
        "invoice": Invoice.objects.filter(pk=invoice.pk).values().get(),
        "client": Client.objects.filter(pk=invoice.client_id).values().get(),
        "transactions": list(Transaction.objects.order_by("pk").values()),
        "activity": ActivityLog.objects.count(),
    }


def _get(http, url, **params) -> tuple[int, str, list[str]]:
    with CaptureQueriesContext(connection) as queries:
        response = http.get(url, params)
    assert response.status_code == 200, response.status_code
    return len(queries), response.content.decode(), [q["sql"] for q in queries.captured_queries]


def _unbounded_counts(sqls: list[str]) -> list[str]:
    return [sql for sql in sqls if "COUNT(" in sql.upper() and "LIMIT" not in sql.upper()]


@pytest.fixture
def vat(db):
    return TaxRule.objects.create(level=1, name="VAT", country="DE", rate=Decimal("19"))


@pytest.fixture
def unpaid(customer) -> Invoice:
    return InvoiceFactory(client=customer, amounts=("10.00",))


# --- the invoice list ------------------------------------------------------------------------------------------


def test_the_invoice_list_issues_the_same_queries_at_2_and_20_invoices_and_never_counts_the_table(admin_client, usd):
    def add_invoices(count):
        for _ in range(count):
            # A client each: the client column must not query.
            InvoiceFactory(client=ClientFactory(currency=usd), amounts=("10.00",))

    url = reverse("admin:billing_invoice_changelist")
    add_invoices(2)
    _get(admin_client, url)  # warm the per-process caches (content types, sessions) first
    few, _page, _sqls = _get(admin_client, url)
    add_invoices(18)
    many, page, sqls = _get(admin_client, url)
    assert many == few
    assert page.count('class="field-number_display"') == 20
    assert _unbounded_counts(sqls) == []


@pytest.mark.parametrize("params", [{"status__exact": "unpaid"}, {"q": "INV"}, {"date__gte": "2000-01-01"}])
def test_a_filtered_or_searched_invoice_list_counts_at_most_a_bounded_number_of_rows(params, admin_client, unpaid):
    _count, page, sqls = _get(admin_client, reverse("admin:billing_invoice_changelist"), **params)
    assert unpaid.number in page
    assert _unbounded_counts(sqls) == []


def test_the_client_filter_is_a_text_box_not_a_list_of_every_client(admin_client, customer, usd):
    mine = InvoiceFactory(client=customer, amounts=("10.00",))
    others = [
        InvoiceFactory(client=ClientFactory(currency=usd, contact_name=f"Someone {n}"), amounts=("20.00",))
        for n in range(3)
    ]
    _count, page, sqls = _get(admin_client, reverse("admin:billing_invoice_changelist"), client=str(customer.pk))
    assert mine.number in page and all(other.number not in page for other in others)
    assert 'name="client"' in page and str(customer) in page
    assert "Someone 1" not in page  # the sidebar lists no clients
    assert not [sql for sql in sqls if 'FROM "billing_client"' in sql and "WHERE" not in sql]


def test_a_client_filter_that_is_not_an_id_shows_nothing(admin_client, unpaid):
    _count, page, _sqls = _get(admin_client, reverse("admin:billing_invoice_changelist"), client="abc")
    assert unpaid.number not in page and "No match." in page


@pytest.mark.parametrize("term", ["exact", "prefix", "lowercase prefix", "id", "client email", "client name"])
def test_search_finds_the_invoice_by_number_id_or_client(term, admin_client, customer, usd):
    wanted = InvoiceFactory(client=customer, amounts=("10.00",))
    other = InvoiceFactory(client=ClientFactory(currency=usd, contact_name="Other Person"), amounts=("10.00",))
    query = {
        "exact": wanted.number,
        "prefix": wanted.number[:-1],
        "lowercase prefix": wanted.number[:-1].lower(),
        "id": f"#{wanted.pk}",
        "client email": customer.email.upper(),
        "client name": customer.contact_name,
    }[term]
    if term in ("prefix", "lowercase prefix"):
        other.number = "OTHER-1"  # so the prefix matches one invoice only
        Invoice.objects.filter(pk=other.pk).update(number="OTHER-1")
    _count, page, _sqls = _get(admin_client, reverse("admin:billing_invoice_changelist"), q=query)
    assert wanted.number in page
    assert other.number not in page


def test_a_search_matching_too_many_clients_says_so(admin_client, usd, monkeypatch):
    monkeypatch.setattr("billing.admin.invoices.CLIENT_SEARCH_LIMIT", 1)
    for name in ("Ann Person", "Bob Person"):
        InvoiceFactory(client=ClientFactory(currency=usd, contact_name=name), amounts=("10.00",))
    response = admin_client.get(reverse("admin:billing_invoice_changelist"), {"q": "Person"})
    assert any("More than 1 clients match 'Person'" in m for m in _messages(response))
    assert response.content.decode().count('class="field-number_display"') == 1


def test_the_list_filters_by_status(admin_client, customer):
    unpaid, cancelled = (
        InvoiceFactory(client=customer, amounts=("10.00",)),
        InvoiceFactory(client=customer, amounts=("12.00",)),
    )
    invoice_cancel(invoice_id=cancelled.pk, actor=None)
    _count, page, _sqls = _get(admin_client, reverse("admin:billing_invoice_changelist"), status__exact="cancelled")
    assert cancelled.number in page and unpaid.number not in page


# --- the paginator ---------------------------------------------------------------------------------------------


class SmallCapPaginator(BoundedCountPaginator):
    minimum_cap = 3
    pages_ahead = 1


def test_the_paginator_counts_only_up_to_a_cap_a_few_pages_past_the_one_asked_for(customer):
    for _ in range(7):
        InvoiceFactory(client=customer, amounts=("1.00",))
    first = SmallCapPaginator(Invoice.objects.all(), 2, requested_page=1)
    assert (first.count, first.count_is_exact, first.count_label) == (4, False, "more than 4")
    assert first.num_pages == 2
    later = SmallCapPaginator(Invoice.objects.all(), 2, requested_page=3)  # cap (3 + 1) * 2 = 8 > 7 rows
    assert (later.count, later.count_is_exact, later.count_label) == (7, True, "7")
    with CaptureQueriesContext(connection) as queries:
        SmallCapPaginator(Invoice.objects.filter(client=customer), 2).count  # noqa: B018 - the count is the point
    assert len(queries) == 1 and "LIMIT" in queries[0]["sql"].upper()


def test_a_page_asked_for_past_the_deepest_page_counts_no_further_than_the_deepest_page(customer):
    for _ in range(7):
        InvoiceFactory(client=customer, amounts=("1.00",))

    class ShallowPaginator(SmallCapPaginator):
        deepest_page = 2

    hostile = ShallowPaginator(Invoice.objects.all(), 2, requested_page=10**17)
    with CaptureQueriesContext(connection) as queries:
        count = hostile.count
    # cap (2 + 1) * 2 = 6: the LIMIT is the deepest page's, not one the database's integers cannot hold
    assert (count, hostile.count_is_exact) == (6, False)
    assert "LIMIT 7" in queries[-1]["sql"].upper()


@pytest.mark.postgres
def test_on_postgresql_an_unfiltered_big_table_is_estimated_not_counted(customer):
    for _ in range(5):
        InvoiceFactory(client=customer, amounts=("1.00",))
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE billing_invoice")

    class EstimatingPaginator(BoundedCountPaginator):
        estimate_from = 1

    paginator = EstimatingPaginator(Invoice.objects.all(), 2)
    with CaptureQueriesContext(connection) as queries:
        count = paginator.count
    assert count == 5 and paginator.count_is_estimate and paginator.count_label == "about 5"
    assert "reltuples" in queries[0]["sql"] and not _unbounded_counts([q["sql"] for q in queries])
    filtered = EstimatingPaginator(Invoice.objects.filter(status="unpaid"), 2)
    assert filtered.count == 5 and not filtered.count_is_estimate  # a filter is counted, within the cap


# --- the invoice page ------------------------------------------------------------------------------------------


def _offered(page: str) -> set[str]:
    actions = ("issue", "payment", "credit", "refund", "resend", "collections", "cancel")
    return {action for action in actions if f'class="invoice-{action}"' in page}


def _to_status(invoice: Invoice, status: str, admin_client) -> None:
    if status == "paid":
        TransactionFactory(invoice=invoice)
    elif status == "refunded":
        payment = TransactionFactory(invoice=invoice)
        admin_client.post(
            _action_url(invoice, "refund"), {"payment": payment.pk, "amount": "10.00", "method": "manual"}
        )
    elif status in ("cancelled", "collections"):
        admin_client.post(_action_url(invoice, "cancel" if status == "cancelled" else "collections"), {})
    invoice.refresh_from_db()
    assert invoice.status == status


@pytest.mark.parametrize(
    ("status", "buttons"),
    [
        ("draft", {"issue", "cancel"}),
        ("unpaid", {"payment", "resend", "collections", "cancel"}),
        ("collections", {"payment", "resend"}),
        ("paid", {"refund", "resend"}),
        ("refunded", {"resend"}),
        ("cancelled", {"resend"}),
    ],
)
def test_the_invoice_page_offers_only_the_actions_its_status_allows(status, buttons, admin_client, customer):
    invoice = InvoiceFactory(
        client=customer, amounts=("10.00",), status=Invoice.Status.DRAFT if status == "draft" else Invoice.Status.UNPAID
    )
    _to_status(invoice, status, admin_client)
    page = admin_client.get(_change_url(invoice)).content.decode()
    assert _offered(page) == buttons
    assert reverse("admin:billing_invoice_pdf", args=[invoice.pk]) in page


def test_apply_credit_is_offered_only_when_the_client_has_credit(admin_client, customer, unpaid):
    assert "credit" not in _offered(admin_client.get(_change_url(unpaid)).content.decode())
    credit_add(client_id=customer.pk, amount=Decimal("3.00"), reason="goodwill", actor=None)
    assert "credit" in _offered(admin_client.get(_change_url(unpaid)).content.decode())


def test_the_invoice_page_shows_totals_taxes_items_and_transactions(admin_client, customer, vat):
    invoice = InvoiceFactory(client=customer, amounts=("10.00", "5.00"), taxed=True)
    payment_record(
        invoice_id=invoice.pk,
        amount=Decimal("4.00"),
        gateway="banktransfer",
        gateway_transaction_id="ref-77",
        actor=None,
    )
    page = admin_client.get(_change_url(invoice)).content.decode()
    assert "VAT 19%: $2.85" in page  # 19% of 15.00
    assert "$17.85" in page and "$13.85" in page  # total, balance due after 4.00 paid
    assert "Line 1" in page and "Line 2" in page
    assert "ref-77" in page
    assert 'name="subtotal"' not in page and 'name="amount_paid"' not in page  # totals are read-only


def test_looking_at_an_action_page_changes_nothing(admin_client, unpaid):
    before = _state(unpaid)
    for action in ("payment", "cancel", "collections", "resend"):
        response = admin_client.get(_action_url(unpaid, action))
        assert response.status_code == 200
        assert unpaid.number in response.content.decode()
    assert _state(unpaid) == before


def test_an_action_the_status_forbids_redirects_back_with_a_message(admin_client, unpaid):
    response = admin_client.get(_action_url(unpaid, "refund"))
    assert response.status_code == 302 and response.url == _change_url(unpaid)
    assert any("refund is not possible" in m for m in _messages(response))


def test_an_unknown_action_is_not_found(admin_client, unpaid):
    assert admin_client.get(_action_url(unpaid, "teleport")).status_code == 404


def test_staff_without_change_permission_cannot_act_on_invoices(client, unpaid, django_user_model):
    staff = django_user_model.objects.create_user("viewer", password="x-very-long-password", is_staff=True)
    client.force_login(staff)
    before = _state(unpaid)
    assert client.post(_action_url(unpaid, "cancel"), {}).status_code == 403
    assert _state(unpaid) == before


def _empty_inline(prefix: str) -> dict:
    return {
        f"{prefix}-TOTAL_FORMS": "0",
        f"{prefix}-INITIAL_FORMS": "0",
        f"{prefix}-MIN_NUM_FORMS": "0",
        f"{prefix}-MAX_NUM_FORMS": "1000",
    }


def test_saving_the_invoice_page_writes_only_the_notes(admin_client, admin_user, unpaid):
    admin_client.get(_change_url(unpaid))  # the admin opens the page while the invoice is Unpaid ...
    TransactionFactory(invoice=unpaid)  # ... a payment arrives meanwhile ...
    data = {"notes": "called the client", **_empty_inline("items"), **_empty_inline("transactions")}
    response = admin_client.post(_change_url(unpaid), data)  # ... then the admin saves
    assert response.status_code == 302
    unpaid.refresh_from_db()
    assert (unpaid.status, unpaid.amount_paid, unpaid.notes) == ("paid", Decimal("10.00"), "called the client")


# --- add payment -----------------------------------------------------------------------------------------------


def _payment(amount, **extra):
    return {"amount": amount, "gateway": "banktransfer", "gateway_transaction_id": "", "fees": "0", **extra}


def test_the_payment_form_offers_the_balance_due_and_the_gateways(admin_client, unpaid):
    page = admin_client.get(_action_url(unpaid, "payment")).content.decode()
    assert 'value="10.00"' in page
    assert 'value="banktransfer"' in page and 'value="sandbox"' in page
    assert 'value="credit"' not in page  # credit is applied with "Apply credit"


def test_a_partial_payment_leaves_the_invoice_unpaid_with_the_balance(admin_client, unpaid):
    response = admin_client.post(
        _action_url(unpaid, "payment"),
        _payment("4.00", gateway_transaction_id="bank-ref-1", fees="0.50", date="2024-03-01"),
    )
    assert response.status_code == 302 and response.url == _change_url(unpaid)
    unpaid.refresh_from_db()
    assert (unpaid.status, unpaid.amount_paid, unpaid.balance_due) == ("unpaid", Decimal("4.00"), Decimal("6.00"))
    payment = unpaid.transactions.get()
    assert (payment.gateway, payment.gateway_transaction_id, payment.fees) == (
        "banktransfer",
        "bank-ref-1",
        Decimal("0.50"),
    )
    assert payment.date.date().isoformat() == "2024-03-01"
    assert any("$4.00 recorded" in m for m in _messages(response))


def test_paying_the_balance_marks_the_invoice_paid(admin_client, unpaid):
    admin_client.post(_action_url(unpaid, "payment"), _payment("10.00"))
    unpaid.refresh_from_db()
    assert (unpaid.status, unpaid.balance_due) == ("paid", Decimal("0.00"))


def test_the_same_gateway_transaction_recorded_twice_is_recorded_once(admin_client, unpaid):
    admin_client.post(_action_url(unpaid, "payment"), _payment("4.00", gateway_transaction_id="dup-1"))
    response = admin_client.post(_action_url(unpaid, "payment"), _payment("4.00", gateway_transaction_id="dup-1"))
    assert any("recorded before" in m for m in _messages(response))
    unpaid.refresh_from_db()
    assert unpaid.amount_paid == Decimal("4.00") and unpaid.transactions.count() == 1


@pytest.mark.parametrize(
    ("data", "error"),
    [
        (_payment("10.005"), "more than 2 decimal places"),
        (_payment("-5.00"), "must be more than zero"),
        (_payment("0"), "must be more than zero"),
        (_payment("ten"), "Enter a number"),
        (_payment("5.00", fees="-1"), "must be zero or more"),
        (_payment("5.00", gateway="nowhere"), "Select a valid choice"),
        (_payment("5.00", date="2999-01-01"), "in the future"),
    ],
)
def test_a_bad_payment_shows_the_error_and_changes_nothing(data, error, admin_client, unpaid):
    before = _state(unpaid)
    response = admin_client.post(_action_url(unpaid, "payment"), data)
    assert response.status_code == 200
    assert error in response.content.decode()
    assert _state(unpaid) == before


def test_paying_a_cancelled_invoice_is_refused_and_changes_nothing(admin_client, unpaid):
    invoice_cancel(invoice_id=unpaid.pk, actor=None)
    before = _state(unpaid)
    response = admin_client.post(_action_url(unpaid, "payment"), _payment("10.00"))
    assert response.status_code == 200
    assert "Cancelled: it cannot take a payment" in response.content.decode()
    assert _state(unpaid) == before


def test_paying_a_paid_invoice_is_refused_and_changes_nothing(admin_client, unpaid):
    TransactionFactory(invoice=unpaid)
    before = _state(unpaid)
    response = admin_client.post(_action_url(unpaid, "payment"), _payment("1.00"))
    assert "Paid: it cannot take a payment" in response.content.decode()
    assert _state(unpaid) == before


# --- refund ----------------------------------------------------------------------------------------------------


@pytest.fixture
def paid_by_card(unpaid) -> tuple[Invoice, Transaction]:
    return unpaid, TransactionFactory(invoice=unpaid, gateway="sandbox", gateway_transaction_id="sbx_ch_1")


def test_the_refund_form_lists_the_payments_of_the_invoice(admin_client, paid_by_card):
    invoice, payment = paid_by_card
    page = admin_client.get(_action_url(invoice, "refund")).content.decode()
    assert "sbx_ch_1" in page and f'value="{payment.pk}"' in page and 'value="10.00"' in page


def test_a_partial_refund_through_the_gateway_keeps_the_invoice_paid(admin_client, paid_by_card):
    invoice, payment = paid_by_card
    response = admin_client.post(
        _action_url(invoice, "refund"),
        {"payment": payment.pk, "amount": "4.00", "method": "gateway", "reason": "one month unused"},
    )
    assert response.status_code == 302
    invoice.refresh_from_db()
    assert (invoice.status, invoice.amount_refunded) == ("paid", Decimal("4.00"))
    refund = invoice.transactions.get(kind=Transaction.Kind.REFUND)
    assert refund.amount_out == Decimal("4.00") and refund.gateway_transaction_id.startswith("sbx_re_")
    assert "one month unused" in refund.description


def test_refunding_everything_to_credit_moves_the_invoice_to_refunded(admin_client, customer, paid_by_card):
    invoice, payment = paid_by_card
    admin_client.post(_action_url(invoice, "refund"), {"payment": payment.pk, "amount": "10.00", "method": "credit"})
    invoice.refresh_from_db()
    customer.refresh_from_db()
    assert (invoice.status, customer.credit_balance) == ("refunded", Decimal("10.00"))


@pytest.mark.parametrize(
    ("amount", "method", "error"),
    [
        ("10.01", "gateway", "more than the $10.00 that can still be refunded"),
        ("10.01", "credit", "more than the $10.00 that can still be refunded"),
        ("1.001", "gateway", "more than 2 decimal places"),
        ("-1", "manual", "must be more than zero"),
        ("1.00", "wire", "Select a valid choice"),
    ],
)
def test_a_bad_refund_shows_the_error_and_changes_nothing(amount, method, error, admin_client, paid_by_card):
    invoice, payment = paid_by_card
    before = _state(invoice)
    response = admin_client.post(
        _action_url(invoice, "refund"), {"payment": payment.pk, "amount": amount, "method": method}
    )
    assert response.status_code == 200
    assert error in response.content.decode()
    assert _state(invoice) == before


def test_a_gateway_that_cannot_send_money_back_is_refused(admin_client, unpaid):
    payment = TransactionFactory(invoice=unpaid)  # a bank transfer
    before = _state(unpaid)
    response = admin_client.post(
        _action_url(unpaid, "refund"), {"payment": payment.pk, "amount": "1.00", "method": "gateway"}
    )
    assert "cannot send money back" in response.content.decode()
    assert _state(unpaid) == before


def test_a_payment_of_another_invoice_cannot_be_refunded_here(admin_client, customer, paid_by_card):
    invoice, _payment = paid_by_card
    other = InvoiceFactory(client=customer, amounts=("5.00",))
    foreign = TransactionFactory(invoice=other, gateway_transaction_id="bank-2")
    before = _state(invoice)
    response = admin_client.post(
        _action_url(invoice, "refund"), {"payment": foreign.pk, "amount": "1.00", "method": "manual"}
    )
    assert "Select a valid choice" in response.content.decode()
    assert _state(invoice) == before


# --- cancel, collections, resend, issue, apply credit ----------------------------------------------------------


def test_cancel_asks_for_a_reason_then_cancels(admin_client, unpaid):
    response = admin_client.post(_action_url(unpaid, "cancel"), {"reason": "ordered twice"})
    assert response.status_code == 302
    unpaid.refresh_from_db()
    assert unpaid.status == "cancelled"
    assert ActivityLog.objects.filter(action="invoice_cancelled", message__contains="ordered twice").exists()


def test_cancelling_a_paid_invoice_is_refused_and_changes_nothing(admin_client, unpaid):
    TransactionFactory(invoice=unpaid)
    before = _state(unpaid)
    response = admin_client.post(_action_url(unpaid, "cancel"), {"reason": "oops"})
    assert response.status_code == 200 and "cannot be cancelled" in response.content.decode()
    assert _state(unpaid) == before


def test_mark_collections(admin_client, unpaid):
    admin_client.post(_action_url(unpaid, "collections"), {"reason": "90 days late"})
    unpaid.refresh_from_db()
    assert unpaid.status == "collections"


def test_collections_of_a_paid_invoice_is_refused_and_changes_nothing(admin_client, unpaid):
    TransactionFactory(invoice=unpaid)
    before = _state(unpaid)
    response = admin_client.post(_action_url(unpaid, "collections"), {})
    assert "cannot be sent to collections" in response.content.decode()
    assert _state(unpaid) == before


def test_resend_queues_an_email_of_the_invoice_each_time_and_says_queued(admin_client, customer, unpaid):
    page = admin_client.get(_action_url(unpaid, "resend")).content.decode()
    admin_client.post(_action_url(unpaid, "resend"), {})
    response = admin_client.post(_action_url(unpaid, "resend"), {})
    emails = OutboundEmail.objects.filter(template="invoice", to_address=customer.email)
    assert emails.count() == 2 and set(emails.values_list("status", flat=True)) == {"queued"}
    # The amount travels with its currency, so the email can write it as pages and PDFs do.
    assert {(e.context["balance_due"], e.context["currency"]) for e in emails} == {(str(unpaid.balance_due), "USD")}
    # Nothing sends email yet: the admin is told what happened, not that the client got it.
    assert "Queue an email of this invoice to the client again?" in page
    assert _messages(response)[-1] == f"Email of {unpaid} to {customer.email} queued."
    logged = ActivityLog.objects.filter(action="invoice_sent", subject_id=unpaid.pk)
    assert list(logged.values_list("message", flat=True)) == [f"Email of {unpaid} to {customer.email} queued"] * 2


def test_resending_a_draft_is_refused_and_changes_nothing(admin_client, customer):
    draft = InvoiceFactory(client=customer, amounts=("10.00",), status=Invoice.Status.DRAFT)
    before = _state(draft)
    response = admin_client.post(_action_url(draft, "resend"), {})
    assert "issue it before sending it" in response.content.decode()
    assert _state(draft) == before and not OutboundEmail.objects.exists()


def test_issuing_a_draft_gives_it_a_number(admin_client, customer):
    draft = InvoiceFactory(client=customer, amounts=("10.00",), status=Invoice.Status.DRAFT)
    assert draft.number is None
    admin_client.post(_action_url(draft, "issue"), {})
    draft.refresh_from_db()
    assert draft.status == "unpaid" and draft.number


def test_issuing_an_issued_invoice_is_refused_and_changes_nothing(admin_client, unpaid):
    before = _state(unpaid)
    response = admin_client.post(_action_url(unpaid, "issue"), {})
    assert "cannot be issued" in response.content.decode()
    assert _state(unpaid) == before


def test_apply_credit_pays_from_the_client_balance(admin_client, customer, unpaid):
    credit_add(client_id=customer.pk, amount=Decimal("15.00"), reason="goodwill", actor=None)
    page = admin_client.get(_action_url(unpaid, "credit")).content.decode()
    assert 'value="10.00"' in page  # as much as both allow
    admin_client.post(_action_url(unpaid, "credit"), {"amount": ""})
    unpaid.refresh_from_db()
    customer.refresh_from_db()
    assert (unpaid.status, unpaid.credit_applied, customer.credit_balance) == (
        "paid",
        Decimal("10.00"),
        Decimal("5.00"),
    )


@pytest.mark.parametrize(("amount", "error"), [("4.00", "less than $4.00"), ("0.001", "more than 2 decimal places")])
def test_applying_more_credit_than_the_client_has_is_refused(amount, error, admin_client, customer, unpaid):
    credit_add(client_id=customer.pk, amount=Decimal("3.00"), reason="goodwill", actor=None)
    before = _state(unpaid)
    response = admin_client.post(_action_url(unpaid, "credit"), {"amount": amount})
    assert error in response.content.decode()
    assert _state(unpaid) == before


# --- PDF -------------------------------------------------------------------------------------------------------


def test_the_admin_downloads_the_invoice_pdf(admin_client, unpaid):
    response = admin_client.get(reverse("admin:billing_invoice_pdf", args=[unpaid.pk]))
    assert response.status_code == 200 and response["Content-Type"] == "application/pdf"
    assert response.content.startswith(b"%PDF")
    assert f'filename="{unpaid.number}.pdf"' in response["Content-Disposition"]


# --- transactions ----------------------------------------------------------------------------------------------


def _kinds(page: str) -> list[str]:
    return re.findall(r'<td class="field-kind">([^<]*)</td>', page)


def test_the_transaction_list_is_read_only_filterable_and_searchable(admin_client, customer, unpaid):
    payment = TransactionFactory(invoice=unpaid, gateway_transaction_id="bank-ref-9")
    credit_add(client_id=customer.pk, amount=Decimal("2.00"), reason="goodwill", actor=None)
    url = reverse("admin:billing_transaction_changelist")
    _count, page, sqls = _get(admin_client, url, q="bank-ref-9")
    assert _kinds(page) == ["Payment"] and "bank-ref-9" in page
    assert _unbounded_counts(sqls) == []
    _count, page, _sqls = _get(admin_client, url, kind__exact="credit_added")
    assert _kinds(page) == ["Credit added"]
    _count, page, _sqls = _get(admin_client, url, gateway="banktransfer")
    assert _kinds(page) == ["Payment"]
    _count, page, _sqls = _get(admin_client, url, client=str(customer.pk))
    assert sorted(_kinds(page)) == ["Credit added", "Payment"]
    assert admin_client.get(reverse("admin:billing_transaction_add")).status_code == 403
    view = admin_client.get(reverse("admin:billing_transaction_change", args=[payment.pk])).content.decode()
    assert 'name="_save"' not in view
    response = admin_client.post(reverse("admin:billing_transaction_delete", args=[payment.pk]), {"post": "yes"})
    assert response.status_code == 403 and Transaction.objects.filter(pk=payment.pk).exists()


def test_the_transaction_list_issues_the_same_queries_at_2_and_20_rows(admin_client, usd):
    def add(count):
        for _ in range(count):
            TransactionFactory(
                invoice=InvoiceFactory(client=ClientFactory(currency=usd), amounts=("1.00",)),
                gateway_transaction_id=f"r-{Transaction.objects.count()}",
            )

    url = reverse("admin:billing_transaction_changelist")
    add(2)
    _get(admin_client, url)  # warm the per-process caches first
    few, _page, _sqls = _get(admin_client, url)
    add(18)
    many, _page, sqls = _get(admin_client, url)
    assert many == few and _unbounded_counts(sqls) == []


# --- clients ---------------------------------------------------------------------------------------------------


def _client_url(client) -> str:
    return reverse("admin:billing_client_change", args=[client.pk])


def _credit_url(client, direction) -> str:
    return reverse("admin:billing_client_credit", args=[client.pk, direction])


def test_the_client_list_filters_by_a_typed_country_and_never_counts_the_table(admin_client, usd):
    ClientFactory(currency=usd, contact_name="Anna Berlin", country="DE")
    ClientFactory(currency=usd, contact_name="Jean Paris", country="FR")
    url = reverse("admin:billing_client_changelist")
    _count, page, sqls = _get(admin_client, url, country="fr")
    assert "Jean Paris" in page and "Anna Berlin" not in page
    assert _unbounded_counts(sqls) == []
    assert not [sql for sql in sqls if "DISTINCT" in sql.upper()]  # no list of every country
    _count, page, _sqls = _get(admin_client, url, q="anna")
    assert "Anna Berlin" in page and "Jean Paris" not in page


def test_the_client_page_shows_invoices_services_orders_credit_and_activity(admin_client, customer, pending_order):
    credit_add(client_id=customer.pk, amount=Decimal("7.00"), reason="apology for downtime", actor=None)
    page = admin_client.get(_client_url(customer)).content.decode()
    invoice, service = pending_order.invoice, pending_order.services.get()
    assert _change_url(invoice) in page
    assert reverse("admin:provisioning_service_change", args=[service.pk]) in page
    assert "shop-example.com" in page  # the domain
    assert reverse("admin:orders_order_change", args=[pending_order.pk]) in page
    assert "apology for downtime" in page  # credit history and activity
    assert ActivityLog.objects.filter(client_id=customer.pk).count() >= 2
    assert page.count('class="credit-add"') == 1 and page.count('class="credit-remove"') == 1


def test_remove_credit_is_not_offered_without_credit(admin_client, customer):
    page = admin_client.get(_client_url(customer)).content.decode()
    assert 'class="credit-add"' in page and 'class="credit-remove"' not in page


def test_the_client_page_query_count_does_not_grow_with_its_history(admin_client, customer, pending_order):
    def add_history(count):
        for _ in range(count):
            invoice = InvoiceFactory(client=customer, amounts=("3.00",))
            credit_add(client_id=customer.pk, amount=Decimal("1.00"), reason="bonus", actor=None)
            TransactionFactory(invoice=invoice, gateway_transaction_id=f"h-{invoice.pk}")

    add_history(1)
    _get(admin_client, _client_url(customer))  # warm the per-process caches first
    few, _page, _sqls = _get(admin_client, _client_url(customer))
    add_history(24)
    many, page, _sqls = _get(admin_client, _client_url(customer))
    assert many == few
    assert "All invoices of this client" in page


def test_add_and_remove_credit_with_a_reason(admin_client, customer):
    response = admin_client.post(_credit_url(customer, "add"), {"amount": "12.50", "reason": "SLA credit"})
    assert response.status_code == 302 and response.url == _client_url(customer)
    admin_client.post(_credit_url(customer, "remove"), {"amount": "2.50", "reason": "added too much"})
    customer.refresh_from_db()
    assert customer.credit_balance == Decimal("10.00")
    kinds = list(customer.transactions.order_by("pk").values_list("kind", "credit_change", "description"))
    assert kinds == [
        ("credit_added", Decimal("12.50"), "SLA credit"),
        ("credit_removed", Decimal("-2.50"), "added too much"),
    ]


@pytest.mark.parametrize(
    ("direction", "data", "error"),
    [
        ("remove", {"amount": "5.01", "reason": "too much"}, "cannot be taken from it"),
        ("add", {"amount": "1.005", "reason": "x"}, "more than 2 decimal places"),
        ("add", {"amount": "-1", "reason": "x"}, "must be more than zero"),
        ("add", {"amount": "1.00", "reason": "  "}, "Say why the credit changes"),
    ],
)
def test_a_bad_credit_change_shows_the_error_and_changes_nothing(direction, data, error, admin_client, customer):
    credit_add(client_id=customer.pk, amount=Decimal("5.00"), reason="start", actor=None)
    before = (Client.objects.values().get(pk=customer.pk), Transaction.objects.count())
    response = admin_client.post(_credit_url(customer, direction), data)
    assert response.status_code == 200 and error in response.content.decode()
    assert (Client.objects.values().get(pk=customer.pk), Transaction.objects.count()) == before


# --- tax rules -------------------------------------------------------------------------------------------------


def test_tax_rules_are_listed_and_added(admin_client, vat):
    assert "VAT" in admin_client.get(reverse("admin:billing_taxrule_changelist")).content.decode()
    response = admin_client.post(
        reverse("admin:billing_taxrule_add"),
        {"level": "2", "name": "State tax", "country": "US", "state": "TX", "rate": "6.25"},
    )
    assert response.status_code == 302
    assert TaxRule.objects.filter(level=2, country="US", state="TX", rate=Decimal("6.25")).exists()


@pytest.mark.parametrize(
    ("data", "error"),
    [
        ({"level": "1", "name": "Too much", "country": "FR", "state": "", "rate": "150"}, "less than or equal to 100"),
        ({"level": "1", "name": "Lower", "country": "de", "state": "", "rate": "7"}, "Use the ISO 3166 code"),
        ({"level": "1", "name": "Again", "country": "DE", "state": "", "rate": "7"}, "already exists"),
    ],
)
def test_an_invalid_tax_rule_is_refused(data, error, admin_client, vat):
    response = admin_client.post(reverse("admin:billing_taxrule_add"), data)
    assert response.status_code == 200 and error in response.content.decode()
    assert TaxRule.objects.count() == 1


# --- gateways --------------------------------------------------------------------------------------------------


@pytest.fixture
def gateways(db):
    from billing.gateways import GATEWAY_CLASSES

    for code, cls in GATEWAY_CLASSES.items():
        GatewayConfig.objects.get_or_create(code=code, defaults={"display_name": cls.default_name})
    stripe = GatewayConfig.objects.get(code="stripe")
    stripe.settings = {"secret_key": "sk_test_TOPSECRET123", "webhook_secret": "whsec_HIDDEN456"}
    stripe.save()
    return stripe


def _gateway_url(config) -> str:
    return reverse("admin:billing_gatewayconfig_change", args=[config.pk])


def _gateway_post(**overrides) -> dict:
    return {
        "display_name": "Card (Stripe)",
        "enabled": "on",
        "sort_order": "30",
        "setting_secret_key": "",
        "setting_webhook_secret": "",
        **overrides,
    }


def test_the_gateway_page_shows_one_field_per_setting_and_never_the_secrets(admin_client, gateways):
    page = admin_client.get(_gateway_url(gateways)).content.decode()
    assert 'name="setting_secret_key"' in page and 'name="setting_webhook_secret"' in page
    assert 'type="password"' in page and "A value is stored" in page
    assert "TOPSECRET" not in page and "HIDDEN456" not in page
    assert "Can take payments" in page and "is disabled" in page  # unavailable_reason()
    listing = admin_client.get(reverse("admin:billing_gatewayconfig_changelist")).content.decode()
    assert "TOPSECRET" not in listing


def test_an_empty_secret_keeps_the_stored_one_and_a_new_one_replaces_it(admin_client, gateways):
    admin_client.post(_gateway_url(gateways), _gateway_post(setting_secret_key="sk_test_NEW"))
    gateways.refresh_from_db()
    assert gateways.settings == {"secret_key": "sk_test_NEW", "webhook_secret": "whsec_HIDDEN456"}
    assert gateways.enabled
    admin_client.post(_gateway_url(gateways), _gateway_post(setting_webhook_secret__clear="on"))
    gateways.refresh_from_db()
    assert gateways.settings == {"secret_key": "sk_test_NEW"}
    page = admin_client.get(_gateway_url(gateways)).content.decode()
    assert "webhook_secret missing" in page and "sk_test_NEW" not in page


def test_gateways_are_enabled_and_ordered_from_the_list(admin_client, gateways):
    configs = list(GatewayConfig.objects.order_by("pk"))
    data = {"form-TOTAL_FORMS": str(len(configs)), "form-INITIAL_FORMS": str(len(configs)), "_save": "Save"}
    for n, config in enumerate(configs):
        data[f"form-{n}-id"] = str(config.pk)
        data[f"form-{n}-sort_order"] = str(100 - n)
        if config.code == "stripe":
            data[f"form-{n}-enabled"] = "on"
    response = admin_client.post(reverse("admin:billing_gatewayconfig_changelist"), data)
    assert response.status_code == 302
    gateways.refresh_from_db()
    assert gateways.enabled and gateways.settings["secret_key"] == "sk_test_TOPSECRET123"
    assert not GatewayConfig.objects.get(code="banktransfer").enabled


def test_seeded_gateways_cannot_be_deleted_nor_unknown_ones_added(admin_client, gateways):
    response = admin_client.post(reverse("admin:billing_gatewayconfig_delete", args=[gateways.pk]), {"post": "yes"})
    assert response.status_code == 403 and GatewayConfig.objects.filter(pk=gateways.pk).exists()
    response = admin_client.get(reverse("admin:billing_gatewayconfig_add"))  # every code has its row
    assert response.status_code == 302 and any("configured already" in m for m in _messages(response))


def test_only_an_implemented_gateway_without_a_row_can_be_added(admin_client, gateways):
    GatewayConfig.objects.filter(code="sandbox").delete()
    add_url = reverse("admin:billing_gatewayconfig_add")
    page = admin_client.get(add_url).content.decode()
    assert 'value="sandbox"' in page and 'value="stripe"' not in page
    response = admin_client.post(add_url, {"code": "paypal", "display_name": "PayPal", "sort_order": "5"})
    assert response.status_code == 200 and "Select a valid choice" in response.content.decode()
    assert not GatewayConfig.objects.filter(code="paypal").exists()
    admin_client.post(add_url, {"code": "sandbox", "display_name": "Sandbox", "sort_order": "5"})
    assert GatewayConfig.objects.filter(code="sandbox").exists()


# --- billing settings ------------------------------------------------------------------------------------------


def _settings_post(**overrides) -> dict:
    return {
        "invoice_number_format": "INV-{YEAR}-{SEQ:06}",
        "taxes_enabled": "on",
        "bank_transfer_instructions": "Pay to IBAN DE00",
        **overrides,
    }


def test_the_settings_list_opens_the_one_row(admin_client, db):
    row = BillingSettings.load()
    response = admin_client.get(reverse("admin:billing_billingsettings_changelist"))
    assert response.status_code == 302 and response.url == reverse(
        "admin:billing_billingsettings_change", args=[row.pk]
    )
    assert admin_client.get(reverse("admin:billing_billingsettings_add")).status_code == 403
    response = admin_client.post(reverse("admin:billing_billingsettings_delete", args=[row.pk]), {"post": "yes"})
    assert response.status_code == 403 and BillingSettings.objects.filter(pk=row.pk).exists()


def test_the_settings_are_saved(admin_client, db):
    row = BillingSettings.load()
    url = reverse("admin:billing_billingsettings_change", args=[row.pk])
    response = admin_client.post(
        url, _settings_post(invoice_number_format="{YEAR}/{MONTH}/{SEQ:04}", auto_apply_credit="on")
    )
    assert response.status_code == 302
    row.refresh_from_db()
    assert (row.invoice_number_format, row.auto_apply_credit, row.compound_tax) == (
        "{YEAR}/{MONTH}/{SEQ:04}",
        True,
        False,
    )


@pytest.mark.parametrize(
    ("number_format", "error"),
    [
        ("INV-{YEAR}", "needs a {SEQ} placeholder"),
        ("INV-{SEQ}-{DAY}", "Unknown placeholder"),
        ("{MONTH}-{SEQ}", "needs {YEAR}"),
    ],
)
def test_a_bad_number_format_is_shown_on_the_field_and_changes_nothing(number_format, error, admin_client, db):
    row = BillingSettings.load()
    before = BillingSettings.objects.values().get(pk=row.pk)
    response = admin_client.post(
        reverse("admin:billing_billingsettings_change", args=[row.pk]),
        _settings_post(invoice_number_format=number_format),
    )
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert list(errors) == ["invoice_number_format"] and error in errors["invoice_number_format"][0]
    assert BillingSettings.objects.values().get(pk=row.pk) == before


# --- gateway events --------------------------------------------------------------------------------------------


def _event(invoice_id: int, *, event_id: str, status=GatewayEvent.Status.FAILED) -> GatewayEvent:
    return GatewayEvent.objects.create(
        gateway="sandbox",
        event_id=event_id,
        event_type="charge.succeeded",
        payload={"charge_id": f"ch_{event_id}", "invoice_id": invoice_id, "amount_minor": 1000, "currency": "USD"},
        status=status,
        error="ConnectionError: the database went away",
        attempts=1,
    )


def test_the_event_list_filters_by_status_and_shows_the_error(admin_client, unpaid):
    failed = _event(unpaid.pk, event_id="evt_failed")
    _event(unpaid.pk, event_id="evt_applied", status=GatewayEvent.Status.APPLIED)
    _count, page, sqls = _get(admin_client, reverse("admin:billing_gatewayevent_changelist"), status__exact="failed")
    assert failed.event_id in page and "evt_applied" not in page
    assert "the database went away" in page
    assert _unbounded_counts(sqls) == []


def test_retrying_failed_events_applies_them_and_reports_each(admin_client, unpaid):
    recoverable = _event(unpaid.pk, event_id="evt_ok")
    broken = _event(999_999, event_id="evt_bad")
    applied = _event(unpaid.pk, event_id="evt_done", status=GatewayEvent.Status.APPLIED)
    response = admin_client.post(
        reverse("admin:billing_gatewayevent_changelist"),
        {"action": "retry_failed", "_selected_action": [recoverable.pk, broken.pk, applied.pk]},
    )
    assert response.status_code == 302
    for event in (recoverable, broken, applied):
        event.refresh_from_db()
    assert recoverable.status == "applied" and recoverable.attempts == 2
    assert broken.status == "failed" and "does not exist" in broken.error
    unpaid.refresh_from_db()
    assert unpaid.status == "paid" and unpaid.transactions.get().gateway_transaction_id == "ch_evt_ok"
    messages = _messages(response)
    assert any("evt_ok: Applied" in m for m in messages)
    assert any("evt_bad failed again" in m and "does not exist" in m for m in messages)
    assert any("evt_done is Applied: only failed events are retried" in m for m in messages)


def test_gateway_events_cannot_be_edited_added_or_deleted(admin_client, unpaid):
    event = _event(unpaid.pk, event_id="evt_1")
    assert admin_client.get(reverse("admin:billing_gatewayevent_add")).status_code == 403
    page = admin_client.get(reverse("admin:billing_gatewayevent_change", args=[event.pk])).content.decode()
    assert 'name="_save"' not in page and "the database went away" in page
    response = admin_client.post(reverse("admin:billing_gatewayevent_delete", args=[event.pk]), {"post": "yes"})
    assert response.status_code == 403 and GatewayEvent.objects.filter(pk=event.pk).exists()


@pytest.mark.parametrize("value", ["²", "#²", "١٢", "9223372036854775808", "9" * 30])
def test_an_id_typed_in_the_admin_that_no_database_holds_finds_nothing(admin_user, unpaid, value):
    """A client filter or a search for "²" ("²".isdigit() is true, int() refuses it) or an id beyond the
    database's range lists nothing, without an error."""
    browser = HttpClient(raise_request_exception=False)
    browser.force_login(admin_user)
    url = reverse("admin:billing_invoice_changelist")

    for params in ({"client": value}, {"q": value}):
        response = browser.get(url, params)
        assert response.status_code == 200, f"{params} answered {response.status_code}"
        assert unpaid.number not in response.content.decode()
