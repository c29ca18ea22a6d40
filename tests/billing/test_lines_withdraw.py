"""invoice_lines_withdraw: lines billing a period that was cancelled come off an open invoice; the invoice is
cancelled when nothing else is charged, and left for an admin (with the reason logged) when it cannot be
changed safely."""

import datetime
from decimal import Decimal

import pytest

from billing.models import Invoice, InvoiceItem
from billing.outcomes import KeptBecause
from billing.services import Withdrawal, invoice_lines_withdraw, payment_record
from billing.wording import withdrawal_kept_words
from notifications.models import ActivityLog, Event
from tests.factories import InvoiceFactory, InvoiceLineFactory

pytestmark = pytest.mark.django_db

D = Decimal
START = datetime.date(2026, 12, 11)


def _line(kind, amount, description, related_id=None):
    """A line of `kind`; one that names what it bills (related_id) bills its month from START."""
    return InvoiceLineFactory(
        kind=kind,
        description=description,
        amount=D(amount),
        related_id=related_id,
        period_start=START if related_id else None,
    )


def _withdraw(invoice, *descriptions):
    ids = list(invoice.items.filter(description__in=descriptions).values_list("pk", flat=True))
    return invoice_lines_withdraw(invoice_id=invoice.pk, line_ids=ids, actor=None, reason="the service ended")


@pytest.mark.parametrize("status", [Invoice.Status.UNPAID, Invoice.Status.DRAFT])
def test_an_invoice_left_with_only_late_fees_or_discounts_is_cancelled(customer, status):
    invoice = InvoiceFactory(
        client=customer,
        due_date=START,
        lines=[
            _line(InvoiceItem.Kind.SERVICE, "10.00", "Hosting", related_id=1),
            _line(InvoiceItem.Kind.LATE_FEE, "5.00", "Late fee"),
            _line(InvoiceItem.Kind.PROMOTION, "-2.00", "Discount"),
        ],
        status=status,
    )
    assert _withdraw(invoice, "Hosting").outcome == Withdrawal.CANCELLED
    invoice.refresh_from_db()
    assert invoice.status == Invoice.Status.CANCELLED
    assert "cancelled: the service ended (Hosting)" in ActivityLog.objects.get(action="invoice_cancelled").message


def test_several_lines_come_off_and_the_totals_follow_the_rest(customer):
    invoice = InvoiceFactory(
        client=customer,
        due_date=START,
        lines=[
            _line(InvoiceItem.Kind.SERVICE, "10.00", "A", related_id=1),
            _line(InvoiceItem.Kind.SERVICE, "7.50", "B", related_id=2),
            _line(InvoiceItem.Kind.SERVICE, "4.99", "C", related_id=3),
        ],
    )
    assert _withdraw(invoice, "A", "B").outcome == Withdrawal.LINES_REMOVED
    invoice.refresh_from_db()
    assert (invoice.status, invoice.total, invoice.balance_due) == (Invoice.Status.UNPAID, D("4.99"), D("4.99"))
    assert list(invoice.items.values_list("description", flat=True)) == ["C"]
    assert Event.objects.get(name="InvoiceLinesRemoved").payload == {
        "invoice_id": invoice.pk,
        "client_id": customer.pk,
        "lines": 2,
    }


def test_money_on_it_leaves_it_for_an_admin_unchanged(customer):
    invoice = InvoiceFactory(
        client=customer,
        due_date=START,
        lines=[
            _line(InvoiceItem.Kind.SERVICE, "10.00", "A", related_id=1),
            _line(InvoiceItem.Kind.SERVICE, "4.99", "C", related_id=3),
        ],
    )
    payment_record(invoice_id=invoice.pk, amount=D("1.00"), gateway="bank", actor=None)
    outcome = _withdraw(invoice, "A")
    assert (outcome.outcome, outcome.kept_because) == (Withdrawal.LEFT_FOR_ADMIN, KeptBecause.MONEY_ON_IT)
    assert withdrawal_kept_words(outcome) == "it has money on it"
    invoice.refresh_from_db()
    assert (invoice.total, invoice.items.count()) == (D("14.99"), 2)
    assert ActivityLog.objects.get(action="invoice_lines_kept").message == (
        f"{invoice} still bills A, though the service ended: it has money on it; an admin decides"
    )


def test_totals_the_rest_cannot_make_leave_it_for_an_admin_unchanged(customer):
    invoice = InvoiceFactory(
        client=customer,
        due_date=START,
        lines=[
            _line(InvoiceItem.Kind.SERVICE, "10.00", "A", related_id=1),
            _line(InvoiceItem.Kind.SERVICE, "1.00", "C", related_id=3),
            _line(InvoiceItem.Kind.PROMOTION, "-5.00", "Discount"),
        ],
    )
    outcome = _withdraw(invoice, "A")
    assert outcome.outcome == Withdrawal.LEFT_FOR_ADMIN
    assert outcome.kept_because is KeptBecause.TOTALS_REFUSED
    assert "discounts cannot exceed the charges" in withdrawal_kept_words(outcome)
    invoice.refresh_from_db()
    assert (invoice.total, invoice.items.count()) == (D("6.00"), 3)
    assert "charges; an admin decides" in ActivityLog.objects.get(action="invoice_lines_kept").message


def test_an_invoice_paid_meanwhile_is_left_as_it_is_and_the_log_says_so(customer):
    invoice = InvoiceFactory(
        client=customer, due_date=START, lines=[_line(InvoiceItem.Kind.SERVICE, "10.00", "A", related_id=1)]
    )
    payment_record(invoice_id=invoice.pk, amount=D("10.00"), gateway="bank", actor=None)
    outcome = _withdraw(invoice, "A")
    assert (outcome.outcome, outcome.kept_because, outcome.status) == (
        Withdrawal.LEFT_FOR_ADMIN,
        KeptBecause.NOT_OPEN,
        Invoice.Status.PAID,
    )
    assert withdrawal_kept_words(outcome) == "it is Paid"
    invoice.refresh_from_db()
    assert (invoice.status, invoice.items.count()) == (Invoice.Status.PAID, 1)
    assert "it is Paid; an admin decides" in ActivityLog.objects.get(action="invoice_lines_kept").message
