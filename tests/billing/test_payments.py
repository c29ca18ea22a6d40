"""Payments and refunds: every movement is a Transaction, a payment is recorded once per (gateway, id), the
invoice is Paid when its balance reaches zero, and bad input changes nothing."""

from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Sum

from billing.gateways import SandboxCard
from billing.models import Client, Invoice, Transaction
from billing.selectors import refundable_on
from billing.services import (
    credit_add,
    credit_apply,
    credit_remove,
    invoice_cancel,
    invoice_send_to_collections,
    payment_record,
    refund_record,
)
from billing.services.refunds import RefundMethod, payment_refund
from notifications.models import Event
from tests.factories import InvoiceFactory, TransactionFactory

D = Decimal


def _pay(invoice, amount, *, ref="", gateway="banktransfer", **kwargs):
    return payment_record(
        invoice_id=invoice.pk,
        amount=D(amount) if isinstance(amount, str) else amount,
        gateway=gateway,
        gateway_transaction_id=ref,
        actor=None,
        **kwargs,
    )


def _events(name, **payload):
    return Event.objects.filter(name=name, **{f"payload__{key}": value for key, value in payload.items()}).count()


def _fresh(invoice):
    return Invoice.objects.get(pk=invoice.pk)


def _credit(client):
    return Client.objects.get(pk=client.pk).credit_balance


def _ledger(client):
    """(credit balance, sum of the client's transactions' credit_change): always equal."""
    change = Transaction.objects.filter(client=client).aggregate(total=Sum("credit_change"))["total"] or D("0")
    return _credit(client), change


def _books(invoice):
    """Everything a refused operation must leave as it was."""
    invoice = _fresh(invoice)
    return (
        invoice.status,
        invoice.number,
        invoice.amount_paid,
        invoice.amount_refunded,
        invoice.credit_applied,
        invoice.balance_due,
        invoice.paid_at,
        Transaction.objects.count(),
        _credit(invoice.client),
        Event.objects.count(),
    )


@pytest.fixture
def invoice(customer):
    """An Unpaid invoice of $100.00 (no tax rules exist, so no tax)."""
    return InvoiceFactory(client=customer)


# --- paying ----------------------------------------------------------------------------------------------------


def test_a_full_payment_marks_the_invoice_paid_and_announces_it_once_after_commit(
    invoice, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        outcome = _pay(invoice, "100.00", ref="BT-1", fees=D("1.50"))

    paid = _fresh(invoice)
    assert outcome.created is True
    assert (paid.status, paid.amount_paid, paid.balance_due) == (Invoice.Status.PAID, D("100.00"), D("0"))
    assert paid.paid_at is not None
    payment = outcome.transaction
    assert (payment.kind, payment.amount_in, payment.amount_out, payment.fees, payment.credit_change) == (
        Transaction.Kind.PAYMENT,
        D("100.00"),
        D("0"),
        D("1.50"),
        D("0"),
    )
    assert (payment.gateway, payment.gateway_transaction_id, payment.invoice_id) == ("banktransfer", "BT-1", invoice.pk)
    assert payment.currency == invoice.currency
    event = Event.objects.get(name="InvoicePaid")
    assert event.payload == {"invoice_id": invoice.pk, "client_id": invoice.client_id, "total": "100.00"}
    assert event.dispatched_at is not None
    assert callbacks  # dispatch was waiting for the commit


def test_invoice_paid_is_dispatched_only_when_the_payment_commits(invoice, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks() as callbacks:
        _pay(invoice, "100.00")
    assert Event.objects.get(name="InvoicePaid").dispatched_at is None  # still uncommitted: nothing announced

    for callback in callbacks:
        callback()

    assert Event.objects.get(name="InvoicePaid").dispatched_at is not None


def test_a_payment_rolled_back_with_its_caller_announces_nothing(invoice):
    with pytest.raises(RuntimeError), transaction.atomic():
        _pay(invoice, "100.00")
        raise RuntimeError("the caller fails after recording the payment")

    assert _fresh(invoice).status == Invoice.Status.UNPAID
    assert _events("InvoicePaid") == 0
    assert not Transaction.objects.exists()


def test_a_partial_payment_leaves_the_invoice_unpaid_with_the_balance_due(invoice):
    _pay(invoice, "40.00")

    partly = _fresh(invoice)
    assert (partly.status, partly.amount_paid, partly.balance_due) == (Invoice.Status.UNPAID, D("40.00"), D("60.00"))
    assert partly.paid_at is None
    assert _events("InvoicePaid") == 0
    assert _events("InvoicePaymentReceived", invoice_id=invoice.pk) == 1


def test_two_partial_payments_that_complete_the_invoice_mark_it_paid_once(invoice):
    _pay(invoice, "40.00", ref="BT-1")
    _pay(invoice, "60.00", ref="BT-2")

    paid = _fresh(invoice)
    assert (paid.status, paid.amount_paid, paid.balance_due) == (Invoice.Status.PAID, D("100.00"), D("0"))
    assert _events("InvoicePaid", invoice_id=invoice.pk) == 1
    assert Transaction.objects.filter(kind=Transaction.Kind.PAYMENT).count() == 2


def test_an_overpayment_pays_the_invoice_and_the_excess_becomes_credit(invoice, customer):
    outcome = _pay(invoice, "130.00")

    paid = _fresh(invoice)
    assert (paid.status, paid.amount_paid, paid.balance_due) == (Invoice.Status.PAID, D("100.00"), D("0"))
    assert outcome.transaction.amount_in == D("130.00")
    assert outcome.transaction.credit_change == D("30.00")
    assert _ledger(customer) == (D("30.00"), D("30.00"))


def test_an_invoice_in_collections_can_still_be_paid(invoice):
    invoice_send_to_collections(invoice_id=invoice.pk, actor=None)

    _pay(invoice, "100.00")

    assert _fresh(invoice).status == Invoice.Status.PAID
    assert _events("InvoicePaid") == 1


def test_the_same_gateway_transaction_recorded_twice_is_one_payment(invoice):
    first = _pay(invoice, "100.00", ref="ch_123")
    books = _books(invoice)

    again = _pay(invoice, "100.00", ref=" ch_123 ")  # a replayed callback, with stray spaces

    assert (again.created, again.transaction.pk) == (False, first.transaction.pk)
    assert _books(invoice) == books
    assert Transaction.objects.count() == 1
    assert _events("InvoicePaid") == 1


def test_the_same_transaction_id_from_another_gateway_is_another_payment(invoice):
    _pay(invoice, "40.00", ref="123")
    assert _pay(invoice, "60.00", ref="123", gateway="sandbox").created is True
    assert _fresh(invoice).status == Invoice.Status.PAID


def test_payments_without_a_transaction_id_are_not_taken_for_duplicates(invoice):
    _pay(invoice, "40.00")
    assert _pay(invoice, "40.00").created is True
    assert _fresh(invoice).amount_paid == D("80.00")


# --- bad input -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("amount", "message"),
    [
        (D("-5.00"), "The amount must be more than zero, not -5.00."),
        (D("0"), "The amount must be more than zero, not 0."),
        (D("0.00"), "The amount must be more than zero"),
        (D("10.005"), "The amount 10.005 has more than 2 decimal places for USD."),
        (10.5, "The amount must be a Decimal, not float."),
        (10, "The amount must be a Decimal, not int."),
        ("10.00", "The amount must be a Decimal, not str."),
        (D("NaN"), "The amount is not a number."),
        (D("sNaN"), "The amount is not a number."),
        (D("Infinity"), "The amount is not a number."),
    ],
)
def test_a_bad_amount_is_refused_with_a_clear_message_and_nothing_changes(invoice, amount, message):
    books = _books(invoice)

    with pytest.raises(ValidationError) as refused:
        payment_record(invoice_id=invoice.pk, amount=amount, gateway="banktransfer", actor=None)

    assert refused.value.messages[0].startswith(message)
    assert _books(invoice) == books


@pytest.mark.parametrize(
    ("fees", "message"),
    [(D("-1.00"), "The fee must be zero or more"), (D("0.001"), "The fee 0.001 has more than 2 decimal places")],
)
def test_a_bad_fee_is_refused_and_nothing_changes(invoice, fees, message):
    books = _books(invoice)
    with pytest.raises(ValidationError, match=message):
        _pay(invoice, "100.00", fees=fees)
    assert _books(invoice) == books


@pytest.mark.parametrize("amount", [D("1000000000000.00"), D("1E+30")])
def test_an_amount_too_large_for_the_books_is_refused_with_a_clear_message(invoice, amount):
    books = _books(invoice)
    with pytest.raises(ValidationError):
        _pay(invoice, amount)
    assert _books(invoice) == books


def test_a_payment_without_a_gateway_is_refused(invoice):
    books = _books(invoice)
    with pytest.raises(ValidationError, match="needs the gateway"):
        _pay(invoice, "100.00", gateway=" ")
    assert _books(invoice) == books


def test_a_payment_for_an_unknown_invoice_is_refused(db):
    with pytest.raises(ValidationError, match=r"There is no invoice #987654\."):
        payment_record(invoice_id=987654, amount=D("10.00"), gateway="banktransfer", actor=None)
    assert not Transaction.objects.exists()


def _draft(client):
    return InvoiceFactory(client=client, status=Invoice.Status.DRAFT)


def _paid(client):
    invoice = InvoiceFactory(client=client)
    TransactionFactory(invoice=invoice, gateway_transaction_id="first")
    return _fresh(invoice)


def _cancelled(client):
    invoice = InvoiceFactory(client=client)
    invoice_cancel(invoice_id=invoice.pk, actor=None)
    return _fresh(invoice)


def _refunded(client):
    invoice = _paid(client)
    refund_record(payment_id=invoice.transactions.get().pk, amount=D("100.00"), actor=None)
    return _fresh(invoice)


NOT_PAYABLE = {"Draft": _draft, "Paid": _paid, "Cancelled": _cancelled, "Refunded": _refunded}


@pytest.mark.parametrize("status", NOT_PAYABLE)
def test_an_invoice_that_cannot_take_a_payment_refuses_it_and_nothing_changes(customer, status):
    invoice = NOT_PAYABLE[status](customer)
    books = _books(invoice)

    with pytest.raises(ValidationError, match=rf"is {status}: it cannot take a payment\."):
        _pay(invoice, "10.00", ref="late")

    assert _books(invoice) == books


@pytest.mark.parametrize("status", NOT_PAYABLE)
def test_money_a_gateway_received_for_an_invoice_that_cannot_take_it_becomes_credit(customer, status):
    invoice = NOT_PAYABLE[status](customer)
    before = _fresh(invoice)
    credit_before = _credit(customer)

    outcome = _pay(invoice, "25.00", ref="late", gateway="sandbox", credit_if_not_payable=True)

    after = _fresh(invoice)
    assert outcome.created is True
    assert (outcome.transaction.amount_in, outcome.transaction.credit_change) == (D("25.00"), D("25.00"))
    assert (after.status, after.amount_paid, after.balance_due) == (
        before.status,
        before.amount_paid,
        before.balance_due,
    )
    assert _credit(customer) == credit_before + D("25.00")
    assert _events("InvoicePaid", invoice_id=invoice.pk) == (1 if status in ("Paid", "Refunded") else 0)
    assert refundable_on(outcome.transaction) == 0  # it paid nothing: it sits in the credit balance
    assert _ledger(customer)[0] == _ledger(customer)[1]


def test_an_invoice_that_comes_to_nothing_is_paid_at_once(customer, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        invoice = InvoiceFactory(client=customer, amounts=("10.00", "-10.00"))

    free = _fresh(invoice)
    assert (free.total, free.balance_due) == (D("0"), D("0"))
    assert free.status == Invoice.Status.PAID
    assert free.paid_at is not None
    assert _events("InvoicePaid", invoice_id=invoice.pk) == 1


# --- refunds ---------------------------------------------------------------------------------------------------


@pytest.fixture
def payment(invoice):
    """The bank transfer that paid the $100.00 invoice in full."""
    return _pay(invoice, "100.00", ref="BT-1").transaction


def test_a_partial_refund_leaves_the_invoice_paid(invoice, payment):
    refund = refund_record(payment_id=payment.pk, amount=D("40.00"), actor=None, reason="Downgrade")

    after = _fresh(invoice)
    assert (after.status, after.amount_refunded, after.refundable) == (Invoice.Status.PAID, D("40.00"), D("60.00"))
    assert (refund.kind, refund.refund_of_id, refund.invoice_id) == (Transaction.Kind.REFUND, payment.pk, invoice.pk)
    assert (refund.amount_in, refund.amount_out, refund.amount, refund.credit_change) == (
        D("0"),
        D("40.00"),
        D("-40.00"),  # a negative transaction
        D("0"),
    )
    assert refund.gateway == "banktransfer"
    assert "Downgrade" in refund.description
    assert _events("InvoiceRefundRecorded", invoice_id=invoice.pk) == 1
    assert _events("InvoiceRefunded") == 0
    assert refundable_on(payment) == D("60.00")


def test_a_full_refund_moves_the_invoice_to_refunded_and_announces_it(invoice, payment):
    refund_record(payment_id=payment.pk, amount=D("100.00"), actor=None)

    assert _fresh(invoice).status == Invoice.Status.REFUNDED
    assert _events("InvoiceRefunded", invoice_id=invoice.pk) == 1


def test_partial_refunds_that_add_up_to_everything_refund_the_invoice_once(invoice, payment):
    refund_record(payment_id=payment.pk, amount=D("30.00"), actor=None)
    refund_record(payment_id=payment.pk, amount=D("70.00"), actor=None)

    assert _fresh(invoice).status == Invoice.Status.REFUNDED
    assert _events("InvoiceRefunded") == 1
    with pytest.raises(ValidationError, match="is Refunded: only paid invoices are refunded"):
        refund_record(payment_id=payment.pk, amount=D("0.01"), actor=None)


def test_a_refund_to_credit_adds_it_to_the_clients_credit(invoice, payment, customer):
    refund = refund_record(payment_id=payment.pk, amount=D("25.00"), actor=None, to_credit=True)

    assert (refund.gateway, refund.amount_out, refund.credit_change) == ("credit", D("25.00"), D("25.00"))
    assert _ledger(customer) == (D("25.00"), D("25.00"))
    assert _fresh(invoice).status == Invoice.Status.PAID


def test_a_refund_larger_than_what_was_paid_is_refused_and_nothing_changes(invoice, payment):
    books = _books(invoice)

    with pytest.raises(ValidationError, match=r"A refund of \$100.01 is more than the \$100.00 that can still be"):
        refund_record(payment_id=payment.pk, amount=D("100.01"), actor=None)
    with pytest.raises(ValidationError, match=r"more than the \$100.00"):
        refund_record(payment_id=payment.pk, amount=D("100.01"), actor=None, to_credit=True)
    refund_record(payment_id=payment.pk, amount=D("60.00"), actor=None)
    books = _books(invoice)
    with pytest.raises(ValidationError, match=r"more than the \$40.00"):
        refund_record(payment_id=payment.pk, amount=D("40.01"), actor=None)

    assert _books(invoice) == books


def test_the_overpaid_excess_is_not_refunded_through_the_gateway(invoice, customer):
    payment = _pay(invoice, "130.00").transaction
    assert refundable_on(payment) == D("100.00")

    with pytest.raises(ValidationError, match=r"more than the \$100.00 that can still be refunded on this payment"):
        refund_record(payment_id=payment.pk, amount=D("130.00"), actor=None)
    refund_record(payment_id=payment.pk, amount=D("100.00"), actor=None)

    assert _fresh(invoice).status == Invoice.Status.REFUNDED
    assert _ledger(customer) == (D("30.00"), D("30.00"))  # the excess stays in the credit balance


def test_a_refund_on_an_unpaid_invoice_is_refused(invoice):
    partial = _pay(invoice, "40.00").transaction
    books = _books(invoice)

    with pytest.raises(ValidationError, match="is Unpaid: only paid invoices are refunded"):
        refund_record(payment_id=partial.pk, amount=D("10.00"), actor=None)

    assert _books(invoice) == books


@pytest.mark.parametrize(
    ("amount", "message"),
    [
        (D("-1.00"), "The refund must be more than zero"),
        (D("0"), "The refund must be more than zero"),
        (D("1.001"), "The refund 1.001 has more than 2 decimal places"),
        (1.0, "The refund must be a Decimal, not float"),
        (D("NaN"), "The refund is not a number"),
    ],
)
def test_a_bad_refund_amount_is_refused_and_nothing_changes(invoice, payment, amount, message):
    books = _books(invoice)
    with pytest.raises(ValidationError, match=message):
        refund_record(payment_id=payment.pk, amount=amount, actor=None)
    assert _books(invoice) == books


def test_only_payments_are_refunded(invoice, payment, customer):
    refund = refund_record(payment_id=payment.pk, amount=D("10.00"), actor=None)
    credit = credit_add(client_id=customer.pk, amount=D("5.00"), reason="Goodwill", actor=None)

    for not_a_payment in (refund.pk, credit.pk, 987654):
        with pytest.raises(ValidationError, match=rf"There is no payment #{not_a_payment} on an invoice to refund"):
            refund_record(payment_id=not_a_payment, amount=D("1.00"), actor=None)


def test_credit_applied_to_an_invoice_goes_back_to_credit_not_through_the_gateway(customer):
    credit_add(client_id=customer.pk, amount=D("40.00"), reason="Goodwill", actor=None)
    invoice = InvoiceFactory(client=customer)
    credit_apply(invoice_id=invoice.pk, amount=D("40.00"), actor=None)
    card = _pay(invoice, "60.00", ref="BT-1").transaction

    with pytest.raises(ValidationError, match=r"more than the \$60.00"):
        refund_record(payment_id=card.pk, amount=D("100.00"), actor=None)
    refund_record(payment_id=card.pk, amount=D("60.00"), actor=None)
    assert _fresh(invoice).status == Invoice.Status.PAID  # the $40.00 of credit has not gone back yet
    with pytest.raises(ValidationError, match=r"more than the \$0.00"):  # the card payment has nothing left
        refund_record(payment_id=card.pk, amount=D("40.00"), actor=None, to_credit=True)
    credit_used = Transaction.objects.get(invoice=invoice, kind=Transaction.Kind.CREDIT_APPLIED)
    with pytest.raises(ValidationError, match="only be refunded to the client's credit"):
        refund_record(payment_id=credit_used.pk, amount=D("40.00"), actor=None)
    refund_record(payment_id=credit_used.pk, amount=D("40.00"), actor=None, to_credit=True)

    assert _fresh(invoice).status == Invoice.Status.REFUNDED
    assert _ledger(customer) == (D("40.00"), D("40.00"))


# --- payment_refund: the admin's refund, by method -------------------------------------------------------------


def test_a_bank_transfer_refunded_by_hand_is_recorded_without_touching_credit(invoice, payment, customer):
    refund = payment_refund(payment_id=payment.pk, amount=D("100.00"), method=RefundMethod.MANUAL, actor=None)

    assert (refund.gateway, refund.gateway_transaction_id, refund.credit_change) == ("banktransfer", "", D("0"))
    assert _fresh(invoice).status == Invoice.Status.REFUNDED
    assert _credit(customer) == 0


def test_a_refund_to_credit_through_payment_refund(invoice, payment, customer):
    payment_refund(payment_id=payment.pk, amount=D("30.00"), method=RefundMethod.CREDIT, actor=None)
    assert _ledger(customer) == (D("30.00"), D("30.00"))


def test_a_bank_transfer_cannot_be_refunded_through_its_gateway(invoice, payment):
    books = _books(invoice)
    with pytest.raises(ValidationError, match="Bank transfer cannot send money back: refund it yourself"):
        payment_refund(payment_id=payment.pk, amount=D("10.00"), method=RefundMethod.GATEWAY, actor=None)
    assert _books(invoice) == books


def test_a_card_payment_is_refunded_through_its_gateway(customer, monkeypatch):
    sent = []
    monkeypatch.setattr(SandboxCard, "refund", lambda self, *, payment, amount: sent.append(amount) or "sbx_re_1")
    invoice = InvoiceFactory(client=customer)
    card = _pay(invoice, "100.00", ref="ch_1", gateway="sandbox").transaction

    refund = payment_refund(payment_id=card.pk, amount=D("100.00"), method=RefundMethod.GATEWAY, actor=None)

    assert sent == [D("100.00")]
    assert (refund.gateway, refund.gateway_transaction_id) == ("sandbox", "sbx_re_1")
    assert _fresh(invoice).status == Invoice.Status.REFUNDED


@pytest.mark.parametrize(
    ("method", "amount", "message"),
    [
        ("wire", D("10.00"), "Unknown refund method 'wire'"),
        (RefundMethod.MANUAL, D("100.01"), r"more than the \$100.00 that can still be refunded"),
        (RefundMethod.MANUAL, D("-1.00"), "The refund must be more than zero"),
        (RefundMethod.MANUAL, D("0.001"), "more than 2 decimal places"),
    ],
)
def test_payment_refund_refuses_bad_input_and_changes_nothing(invoice, payment, method, amount, message):
    books = _books(invoice)
    with pytest.raises(ValidationError, match=message):
        payment_refund(payment_id=payment.pk, amount=amount, method=method, actor=None)
    assert _books(invoice) == books


def test_payment_refund_refuses_an_unpaid_invoice_and_an_unknown_payment(invoice):
    partial = _pay(invoice, "40.00").transaction
    with pytest.raises(ValidationError, match="is Unpaid: only paid invoices are refunded"):
        payment_refund(payment_id=partial.pk, amount=D("10.00"), method=RefundMethod.MANUAL, actor=None)
    with pytest.raises(ValidationError, match=r"There is no payment #987654\."):
        payment_refund(payment_id=987654, amount=D("10.00"), method=RefundMethod.MANUAL, actor=None)


@pytest.fixture
def card_payment_half_refunded(customer):
    """$100.00 paid $50.00 by card and $50.00 by bank transfer; $30.00 of the card payment already refunded to
    credit. Every refund is limited by its source: $20.00 is left on the card payment, $70.00 on the invoice."""
    invoice = InvoiceFactory(client=customer)
    card = _pay(invoice, "50.00", ref="ch_1", gateway="sandbox").transaction
    _pay(invoice, "50.00", ref="BT-1")
    with pytest.raises(ValidationError, match=r"more than the \$50.00"):  # a source's limit holds for credit too
        refund_record(payment_id=card.pk, amount=D("80.00"), actor=None, to_credit=True)
    refund_record(payment_id=card.pk, amount=D("30.00"), actor=None, to_credit=True)
    assert (refundable_on(card), _fresh(invoice).refundable) == (D("20.00"), D("70.00"))
    return card


def test_a_refund_the_books_would_refuse_is_never_sent_through_the_gateway(card_payment_half_refunded, monkeypatch):
    card = card_payment_half_refunded
    sent = []
    monkeypatch.setattr(SandboxCard, "refund", lambda self, *, payment, amount: sent.append(amount) or "sbx_re_1")

    with pytest.raises(ValidationError, match=r"more than the \$20.00"):
        payment_refund(payment_id=card.pk, amount=D("50.00"), method=RefundMethod.GATEWAY, actor=None)

    assert sent == []


# --- the credit ledger -----------------------------------------------------------------------------------------


def test_the_credit_balance_is_always_the_sum_of_the_credit_changes(customer):
    checks = []

    def check():
        balance, change = _ledger(customer)
        checks.append(balance)
        assert balance == change

    first, second, third = (
        InvoiceFactory(client=customer),
        InvoiceFactory(client=customer, amounts=("50.00",)),
        InvoiceFactory(client=customer, amounts=("80.00",)),
    )
    _pay(first, "130.00", ref="BT-1")  # 30 excess
    check()
    credit_add(client_id=customer.pk, amount=D("20.00"), reason="Goodwill", actor=None)
    check()
    credit_apply(invoice_id=second.pk, amount=D("45.00"), actor=None)
    check()
    _pay(second, "5.00", ref="BT-2")
    _pay(third, "30.00", ref="BT-3")
    invoice_cancel(invoice_id=third.pk, actor=None)  # its $30.00 goes to credit
    check()
    refund_record(payment_id=Transaction.objects.get(gateway_transaction_id="BT-1").pk, amount=D("10.00"), actor=None)
    refund_record(
        payment_id=Transaction.objects.get(gateway_transaction_id="BT-1").pk,
        amount=D("15.00"),
        actor=None,
        to_credit=True,
    )
    check()
    _pay(first, "12.00", ref="late", gateway="sandbox", credit_if_not_payable=True)
    credit_remove(client_id=customer.pk, amount=D("7.00"), reason="Correction", actor=None)
    check()

    assert checks == [D("30.00"), D("50.00"), D("5.00"), D("35.00"), D("50.00"), D("55.00")]
