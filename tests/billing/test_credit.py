"""Client credit: admins add and remove it with a reason, it pays invoices (by hand or automatically on new
invoices), cancelled invoices give theirs back, and it never goes negative."""

from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Sum

from billing.models import BillingSettings, Client, Invoice, Transaction
from billing.services import (
    credit_add,
    credit_apply,
    credit_remove,
    invoice_cancel,
    invoice_cancel_if_open,
    payment_record,
)
from notifications.models import Event
from tests.factories import ClientFactory, InvoiceFactory

D = Decimal


def _fresh(invoice):
    return Invoice.objects.get(pk=invoice.pk)


def _credit(client):
    return Client.objects.get(pk=client.pk).credit_balance


def _ledger(client):
    """(credit balance, sum of the client's transactions' credit_change): always equal."""
    change = Transaction.objects.filter(client=client).aggregate(total=Sum("credit_change"))["total"] or D("0")
    return _credit(client), change


def _add(client, amount, reason="Goodwill"):
    return credit_add(client_id=client.pk, amount=D(amount), reason=reason, actor=None)


def _books(client, *invoices):
    """Everything a refused credit operation must leave as it was."""
    return (
        _credit(client),
        Transaction.objects.count(),
        Event.objects.count(),
        [(i.status, i.credit_applied, i.total, i.balance_due) for i in map(_fresh, invoices)],
    )


def _auto_apply(on=True, **fields):
    billing = BillingSettings.load()
    billing.auto_apply_credit = on
    for name, value in fields.items():
        setattr(billing, name, value)
    billing.save()


# --- adding and removing ---------------------------------------------------------------------------------------


def test_an_admin_adds_credit_with_a_reason(customer, admin_user):
    entry = credit_add(client_id=customer.pk, amount=D("25.00"), reason="  Outage compensation ", actor=admin_user)

    assert _credit(customer) == D("25.00")
    assert (entry.kind, entry.credit_change, entry.amount_in, entry.amount_out) == (
        Transaction.Kind.CREDIT_ADDED,
        D("25.00"),
        D("0"),
        D("0"),
    )
    assert (entry.description, entry.actor_label, entry.invoice_id) == ("Outage compensation", "admin", None)
    assert Event.objects.filter(name="ClientCreditAdded", payload__client_id=customer.pk).count() == 1


def test_an_admin_removes_credit_with_a_reason(customer):
    _add(customer, "25.00")

    entry = credit_remove(client_id=customer.pk, amount=D("10.00"), reason="Added by mistake", actor=None)

    assert (entry.kind, entry.credit_change, entry.description) == (
        Transaction.Kind.CREDIT_REMOVED,
        D("-10.00"),
        "Added by mistake",
    )
    assert _ledger(customer) == (D("15.00"), D("15.00"))


@pytest.mark.parametrize("change", [credit_add, credit_remove])
@pytest.mark.parametrize("reason", ["", "   "])
def test_a_credit_change_without_a_reason_is_refused(customer, change, reason):
    _add(customer, "25.00")
    books = _books(customer)

    with pytest.raises(ValidationError, match="Say why the credit changes"):
        change(client_id=customer.pk, amount=D("5.00"), reason=reason, actor=None)

    assert _books(customer) == books


@pytest.mark.parametrize("change", [credit_add, credit_remove])
@pytest.mark.parametrize(
    ("amount", "message"),
    [
        (D("-5.00"), "must be more than zero"),
        (D("0"), "must be more than zero"),
        (D("1.001"), "has more than 2 decimal places"),
        (5.0, "must be a Decimal, not float"),
        (D("NaN"), "is not a number"),
        (D("sNaN"), "is not a number"),
        (D("1e1000000"), "larger than the books can hold"),  # beyond the context's exponent: abs() overflows
        (D("-1e1000000"), "larger than the books can hold"),
        (D("1e-1000000"), "has more than 2 decimal places"),
        (D("9" * 40), "larger than the books can hold"),
    ],
)
def test_a_bad_credit_amount_is_refused_and_nothing_changes(customer, change, amount, message):
    _add(customer, "25.00")
    books = _books(customer)

    with pytest.raises(ValidationError, match=message):
        change(client_id=customer.pk, amount=amount, reason="Goodwill", actor=None)

    assert _books(customer) == books


def test_removing_more_credit_than_the_client_holds_is_refused_and_nothing_changes(customer):
    _add(customer, "25.00")
    books = _books(customer)

    with pytest.raises(ValidationError, match=r"has \$25.00 of credit; \$25.01 cannot be taken from it"):
        credit_remove(client_id=customer.pk, amount=D("25.01"), reason="Correction", actor=None)

    assert _books(customer) == books
    credit_remove(client_id=customer.pk, amount=D("25.00"), reason="Correction", actor=None)
    assert _ledger(customer) == (D("0"), D("0"))


def test_the_database_itself_refuses_a_negative_credit_balance(customer):
    with pytest.raises(IntegrityError), transaction.atomic():
        Client.objects.filter(pk=customer.pk).update(credit_balance=D("-0.01"))


# --- applying --------------------------------------------------------------------------------------------------


def test_credit_applied_to_part_of_an_invoice_lowers_its_total_and_balance(customer):
    _add(customer, "30.00")
    invoice = InvoiceFactory(client=customer)

    entry = credit_apply(invoice_id=invoice.pk, amount=D("30.00"), actor=None)

    after = _fresh(invoice)
    assert (after.status, after.credit_applied, after.total, after.balance_due) == (
        Invoice.Status.UNPAID,
        D("30.00"),
        D("70.00"),
        D("70.00"),
    )
    assert (entry.kind, entry.credit_change, entry.invoice_id) == (
        Transaction.Kind.CREDIT_APPLIED,
        D("-30.00"),
        invoice.pk,
    )
    assert _ledger(customer) == (D("0"), D("0"))
    assert Event.objects.filter(name="InvoiceCreditApplied", payload__invoice_id=invoice.pk).count() == 1
    assert not Event.objects.filter(name="InvoicePaid").exists()


def test_credit_that_covers_the_balance_pays_the_invoice(customer, django_capture_on_commit_callbacks):
    _add(customer, "250.00")
    invoice = InvoiceFactory(client=customer)
    payment_record(invoice_id=invoice.pk, amount=D("40.00"), gateway="banktransfer", actor=None)

    with django_capture_on_commit_callbacks(execute=True):
        entry = credit_apply(invoice_id=invoice.pk, actor=None)  # as much as is due

    after = _fresh(invoice)
    assert entry.credit_change == D("-60.00")
    assert (after.status, after.credit_applied, after.total, after.amount_paid, after.balance_due) == (
        Invoice.Status.PAID,
        D("60.00"),
        D("40.00"),
        D("40.00"),
        D("0"),
    )
    assert after.paid_at is not None
    assert Event.objects.filter(name="InvoicePaid", payload__invoice_id=invoice.pk).count() == 1
    assert _ledger(customer) == (D("190.00"), D("190.00"))


def test_applying_without_an_amount_uses_what_the_client_holds_when_that_is_less(customer):
    _add(customer, "30.00")
    invoice = InvoiceFactory(client=customer)

    credit_apply(invoice_id=invoice.pk, actor=None)

    assert (_fresh(invoice).balance_due, _credit(customer)) == (D("70.00"), D("0"))


def test_applying_more_credit_than_is_due_is_refused_and_nothing_changes(customer):
    _add(customer, "250.00")
    invoice = InvoiceFactory(client=customer)
    books = _books(customer, invoice)

    with pytest.raises(ValidationError, match=r"has \$100.00 due, less than \$100.01"):
        credit_apply(invoice_id=invoice.pk, amount=D("100.01"), actor=None)

    assert _books(customer, invoice) == books


def test_applying_more_credit_than_the_client_holds_is_refused_and_nothing_changes(customer):
    _add(customer, "30.00")
    invoice = InvoiceFactory(client=customer)
    books = _books(customer, invoice)

    with pytest.raises(ValidationError, match=r"has \$30.00 of credit, less than \$30.01"):
        credit_apply(invoice_id=invoice.pk, amount=D("30.01"), actor=None)

    assert _books(customer, invoice) == books


@pytest.mark.parametrize(
    ("amount", "message"),
    [
        (D("-5.00"), "The credit must be more than zero"),
        (D("0"), "The credit must be more than zero"),
        (D("5.001"), "The credit 5.001 has more than 2 decimal places"),
        (5.0, "The credit must be a Decimal, not float"),
        (D("1e1000000"), "The credit is larger than the books can hold"),
        (D("Infinity"), "The credit is not a number"),
    ],
)
def test_a_bad_amount_of_credit_to_apply_is_refused(customer, amount, message):
    _add(customer, "30.00")
    invoice = InvoiceFactory(client=customer)
    books = _books(customer, invoice)

    with pytest.raises(ValidationError, match=message):
        credit_apply(invoice_id=invoice.pk, amount=amount, actor=None)

    assert _books(customer, invoice) == books


def test_a_client_without_credit_has_none_to_apply(customer):
    invoice = InvoiceFactory(client=customer)
    with pytest.raises(ValidationError, match="has no credit to apply"):
        credit_apply(invoice_id=invoice.pk, actor=None)


def test_credit_is_not_applied_to_an_invoice_that_cannot_take_it(customer):
    _add(customer, "500.00")
    draft = InvoiceFactory(client=customer, status=Invoice.Status.DRAFT)
    cancelled = InvoiceFactory(client=customer)
    invoice_cancel(invoice_id=cancelled.pk, actor=None)
    paid = InvoiceFactory(client=customer)
    credit_apply(invoice_id=paid.pk, actor=None)
    books = _books(customer, draft, cancelled, paid)

    for invoice, status in ((draft, "Draft"), (cancelled, "Cancelled"), (paid, "Paid")):
        with pytest.raises(ValidationError, match=f"is {status}: credit cannot be applied to it"):
            credit_apply(invoice_id=invoice.pk, amount=D("1.00"), actor=None)

    assert _books(customer, draft, cancelled, paid) == books


def test_a_client_cannot_apply_credit_to_another_clients_invoice(customer, usd):
    _add(customer, "50.00")
    someone_else = ClientFactory(currency=usd)
    invoice = InvoiceFactory(client=someone_else)
    books = _books(customer, invoice)

    with pytest.raises(ValidationError, match=rf"There is no invoice #{invoice.pk}\."):
        credit_apply(invoice_id=invoice.pk, client_id=customer.pk, actor=None)

    assert _books(customer, invoice) == books


# --- applied automatically to new invoices ---------------------------------------------------------------------


def test_with_auto_apply_on_a_new_invoice_takes_the_clients_credit(customer):
    _auto_apply()
    _add(customer, "30.00")

    invoice = InvoiceFactory(client=customer)

    assert (invoice.credit_applied, invoice.total, invoice.balance_due) == (D("30.00"), D("70.00"), D("70.00"))
    assert _fresh(invoice).credit_applied == D("30.00")
    assert _ledger(customer) == (D("0"), D("0"))


def test_with_auto_apply_on_credit_that_covers_a_new_invoice_pays_it(customer):
    _auto_apply()
    _add(customer, "150.00")

    invoice = _fresh(InvoiceFactory(client=customer))

    assert (invoice.status, invoice.credit_applied, invoice.balance_due) == (Invoice.Status.PAID, D("100.00"), D("0"))
    assert invoice.number == f"INV-{invoice.date:%Y}-000001"
    assert Event.objects.filter(name="InvoicePaid", payload__invoice_id=invoice.pk).count() == 1
    assert _ledger(customer) == (D("50.00"), D("50.00"))


def test_with_auto_apply_a_paid_proforma_invoice_gets_its_number(customer):
    _auto_apply(number_on_payment=True)
    _add(customer, "30.00")
    unpaid = _fresh(InvoiceFactory(client=customer))
    _add(customer, "100.00")
    paid = _fresh(InvoiceFactory(client=customer))

    assert (unpaid.status, unpaid.number) == (Invoice.Status.UNPAID, None)
    assert (paid.status, paid.number) == (Invoice.Status.PAID, f"INV-{paid.date:%Y}-000001")


def test_without_auto_apply_a_new_invoice_leaves_the_credit_alone(customer):
    _auto_apply(on=False)
    _add(customer, "30.00")

    invoice = InvoiceFactory(client=customer)

    assert (invoice.credit_applied, invoice.balance_due, _credit(customer)) == (D("0"), D("100.00"), D("30.00"))


def test_auto_apply_leaves_drafts_alone(customer):
    _auto_apply()
    _add(customer, "30.00")

    draft = InvoiceFactory(client=customer, status=Invoice.Status.DRAFT)

    assert (_fresh(draft).credit_applied, _credit(customer)) == (D("0"), D("30.00"))


# --- cancelling gives the money back ---------------------------------------------------------------------------


@pytest.mark.parametrize("cancel", [invoice_cancel, invoice_cancel_if_open])
def test_cancelling_an_invoice_returns_its_credit_and_partial_payments_to_credit(customer, cancel):
    _add(customer, "30.00")
    invoice = InvoiceFactory(client=customer)
    credit_apply(invoice_id=invoice.pk, amount=D("30.00"), actor=None)
    payment_record(invoice_id=invoice.pk, amount=D("20.00"), gateway="banktransfer", actor=None)

    cancel(invoice_id=invoice.pk, actor=None, reason="Ordered by mistake")

    after = _fresh(invoice)
    assert after.status == Invoice.Status.CANCELLED
    assert (after.credit_applied, after.amount_paid) == (D("0"), D("0"))
    assert _ledger(customer) == (D("50.00"), D("50.00"))
    returned = Transaction.objects.get(kind=Transaction.Kind.CREDIT_ADDED, invoice=invoice)
    assert returned.credit_change == D("50.00")
    assert Event.objects.filter(name="InvoiceCancelled", payload__invoice_id=invoice.pk).count() == 1


def test_cancelling_an_untouched_invoice_moves_no_credit(customer):
    invoice = InvoiceFactory(client=customer)

    invoice_cancel(invoice_id=invoice.pk, actor=None)

    assert _fresh(invoice).status == Invoice.Status.CANCELLED
    assert not Transaction.objects.exists()


def test_cancelling_a_paid_invoice_is_refused_and_moves_no_money(customer):
    _add(customer, "30.00")
    invoice = InvoiceFactory(client=customer)
    credit_apply(invoice_id=invoice.pk, amount=D("30.00"), actor=None)
    payment_record(invoice_id=invoice.pk, amount=D("70.00"), gateway="banktransfer", actor=None)
    books = _books(customer, invoice)

    with pytest.raises(ValidationError, match="is Paid and cannot be cancelled"):
        invoice_cancel(invoice_id=invoice.pk, actor=None)
    assert invoice_cancel_if_open(invoice_id=invoice.pk, actor=None) is None

    assert _books(customer, invoice) == books
    assert _fresh(invoice).amount_paid == D("70.00")


def test_a_refused_cancellation_names_the_invoice_once(customer):
    invoice = InvoiceFactory(client=customer)
    payment_record(invoice_id=invoice.pk, amount=D("100.00"), gateway="banktransfer", actor=None)

    with pytest.raises(ValidationError) as refused:
        invoice_cancel(invoice_id=invoice.pk, actor=None)

    assert refused.value.messages == [f"{_fresh(invoice)} is Paid and cannot be cancelled."]
