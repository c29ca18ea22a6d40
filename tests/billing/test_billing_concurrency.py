"""Money under concurrency (PostgreSQL row locks): replayed payments, payments racing to settle one invoice,
credit spent twice at once, refunds at once. Each thread has its own database connection."""

import contextlib
import threading
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.db.models import Sum

from billing.gateways import SandboxCard
from billing.models import Client, Invoice, Transaction
from billing.services import (
    credit_add,
    credit_apply,
    invoice_cancel,
    payment_record,
    refund_record,
)
from billing.services.refunds import RefundMethod, payment_refund
from notifications.models import Event
from tests.factories import InvoiceFactory

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

D = Decimal
REFUSED = "refused: "


def _race(*works):
    """Run the callables at the same moment, each in its own thread and connection. Returns, per callable, its
    result, or "refused: <message>" for a ValidationError; any other exception fails the test."""
    barrier = threading.Barrier(len(works))
    results = [None] * len(works)
    crashes = []

    def run(index, work):
        try:
            barrier.wait(10)
            results[index] = work()
        except ValidationError as refusal:
            results[index] = REFUSED + refusal.messages[0]
        except Exception as error:  # collected: a crash in a thread must fail the test, not vanish
            crashes.append(repr(error))
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(index, work)) for index, work in enumerate(works)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not any(thread.is_alive() for thread in threads), "a thread hung (deadlock?)"
    assert crashes == []
    return results


def _fresh(invoice):
    return Invoice.objects.get(pk=invoice.pk)


def _ledger(client):
    balance = Client.objects.get(pk=client.pk).credit_balance
    change = Transaction.objects.filter(client=client).aggregate(total=Sum("credit_change"))["total"] or D("0")
    return balance, change


def _refused(results):
    return [result for result in results if isinstance(result, str) and result.startswith(REFUSED)]


def test_the_same_payment_recorded_by_twenty_workers_at_once_is_recorded_once(customer):
    invoice = InvoiceFactory(client=customer)

    def record():
        return payment_record(
            invoice_id=invoice.pk, amount=D("100.00"), gateway="sandbox", gateway_transaction_id="ch_1", actor=None
        ).created

    results = _race(*[record] * 20)

    assert sorted(results) == [False] * 19 + [True]
    assert Transaction.objects.filter(gateway="sandbox", gateway_transaction_id="ch_1").count() == 1
    assert Event.objects.filter(name="InvoicePaid", payload__invoice_id=invoice.pk).count() == 1
    paid = _fresh(invoice)
    assert (paid.status, paid.amount_paid, paid.balance_due) == (Invoice.Status.PAID, D("100.00"), D("0"))
    assert _ledger(customer) == (D("0"), D("0"))


@pytest.mark.parametrize("from_a_gateway", [True, False], ids=["gateway callbacks", "admins recording"])
def test_twenty_payments_racing_to_settle_one_invoice_pay_it_once(customer, from_a_gateway):
    invoice = InvoiceFactory(client=customer)

    def pay(number):
        def work():
            return payment_record(
                invoice_id=invoice.pk,
                amount=D("7.00"),
                gateway="sandbox",
                gateway_transaction_id=f"ch_{number}",
                actor=None,
                credit_if_not_payable=from_a_gateway,
            ).created

        return work

    results = _race(*[pay(number) for number in range(20)])

    paid = _fresh(invoice)
    assert (paid.status, paid.amount_paid, paid.balance_due) == (Invoice.Status.PAID, D("100.00"), D("0"))
    assert Event.objects.filter(name="InvoicePaid", payload__invoice_id=invoice.pk).count() == 1
    received = Transaction.objects.filter(kind=Transaction.Kind.PAYMENT).aggregate(total=Sum("amount_in"))["total"]
    if from_a_gateway:
        assert results == [True] * 20  # money that arrived is never refused: what the invoice cannot take is credit
        assert received == D("140.00")
    else:
        # 15 payments of 7.00 settle 100.00 (the 15th with 5.00 over); the other 5 find it Paid and are refused.
        assert results.count(True) == 15
        assert set(_refused(results)) == {f"{REFUSED}{paid} is Paid: it cannot take a payment."}
        assert received == D("105.00")
    assert _ledger(customer) == (received - D("100.00"), received - D("100.00"))


@pytest.mark.parametrize("amount", [None, D("50.00")], ids=["all it holds", "an explicit amount"])
def test_two_invoices_taking_all_of_a_clients_credit_at_once_never_drive_it_negative(customer, amount):
    credit_add(client_id=customer.pk, amount=D("50.00"), reason="Goodwill", actor=None)
    first, second = InvoiceFactory(client=customer), InvoiceFactory(client=customer)

    def apply_to(invoice):
        return lambda: credit_apply(invoice_id=invoice.pk, amount=amount, actor=None).credit_change

    results = _race(apply_to(first), apply_to(second))

    assert D("-50.00") in results
    assert len(_refused(results)) == 1
    assert "has no credit to apply" in _refused(results)[0] or "has $0.00 of credit" in _refused(results)[0]
    assert _fresh(first).credit_applied + _fresh(second).credit_applied == D("50.00")
    assert _ledger(customer) == (D("0"), D("0"))


def test_a_payment_racing_a_cancellation_is_never_lost(customer):
    invoice = InvoiceFactory(client=customer)

    def pay():
        return payment_record(
            invoice_id=invoice.pk,
            amount=D("100.00"),
            gateway="sandbox",
            gateway_transaction_id="ch_1",
            actor=None,
            credit_if_not_payable=True,
        ).created

    def cancel():
        return invoice_cancel(invoice_id=invoice.pk, actor=None).status

    paid, cancelled = _race(pay, cancel)

    after = _fresh(invoice)
    credit = _ledger(customer)
    assert paid is True
    if after.status == Invoice.Status.PAID:
        assert cancelled.startswith(REFUSED) and cancelled.endswith("is Paid and cannot be cancelled.")
        assert credit == (D("0"), D("0"))
    else:
        assert (after.status, cancelled) == (Invoice.Status.CANCELLED, Invoice.Status.CANCELLED)
        assert credit == (D("100.00"), D("100.00"))  # the money arrived after the cancellation: it is credit


def test_two_admins_refunding_a_payment_in_full_at_once_refund_it_once(customer):
    invoice = InvoiceFactory(client=customer)
    payment = payment_record(invoice_id=invoice.pk, amount=D("100.00"), gateway="banktransfer", actor=None)

    def refund():
        return refund_record(payment_id=payment.transaction.pk, amount=D("100.00"), actor=None).amount_out

    results = _race(refund, refund)

    assert D("100.00") in results
    assert _refused(results) == [f"{REFUSED}{_fresh(invoice)} is Refunded: only paid invoices are refunded."]
    after = _fresh(invoice)
    assert (after.status, after.amount_refunded) == (Invoice.Status.REFUNDED, D("100.00"))
    assert Event.objects.filter(name="InvoiceRefunded").count() == 1


def test_two_admins_refunding_a_card_payment_at_once_send_the_money_back_once(customer, monkeypatch):
    invoice = InvoiceFactory(client=customer)
    card = payment_record(
        invoice_id=invoice.pk, amount=D("100.00"), gateway="sandbox", gateway_transaction_id="ch_1", actor=None
    ).transaction
    both_at_the_gateway = threading.Barrier(2)
    sent = []

    def refund_at_the_gateway(self, *, payment, amount):
        sent.append(amount)
        with contextlib.suppress(threading.BrokenBarrierError):  # alone at the gateway: the right outcome
            both_at_the_gateway.wait(3)  # lets a second refund reach the gateway, if nothing stops it before
        return f"sbx_re_{len(sent)}"

    monkeypatch.setattr(SandboxCard, "refund", refund_at_the_gateway)

    def refund():
        return payment_refund(payment_id=card.pk, amount=D("100.00"), method=RefundMethod.GATEWAY, actor=None).pk

    results = _race(refund, refund)

    assert len(_refused(results)) == 1
    assert sent == [D("100.00")]
