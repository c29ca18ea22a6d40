"""The two status guards of late fees, each shown by a test of its own: the selection reads only Unpaid invoices,
and the batch checks the status again under the invoice's lock, so a payment that commits between the two gets
no fee."""

import datetime
from decimal import Decimal

import pytest

from automation.models import AutomationSettings
from automation.scheduler import automation_run
from billing import automation
from billing.models import Invoice, InvoiceItem, LateFee
from billing.services import invoice_cancel, invoice_send_to_collections
from tests.concurrency import in_another_thread
from tests.factories import InvoiceFactory, TransactionFactory

D = Decimal
DUE = datetime.date(2026, 12, 10)
A_WEEK_LATE = DUE + datetime.timedelta(days=7)


def _fees_on():
    AutomationSettings.objects.filter(pk=AutomationSettings.load().pk).update(
        late_fee_enabled=True,
        late_fee_type=AutomationSettings.LateFeeType.FIXED,
        late_fee_amount=D("5.00"),
        late_fee_after_days=7,
        late_fee_repeat_days=0,
        late_fee_max_count=1,
    )


ISSUED = DUE - datetime.timedelta(days=14)


@pytest.mark.django_db
def test_the_late_fee_selection_reads_only_unpaid_invoices(customer):
    _fees_on()
    unpaid, paid, cancelled, collections = (
        InvoiceFactory(client=customer, issue_date=ISSUED, due_date=DUE) for _ in range(4)
    )
    draft = InvoiceFactory(client=customer, issue_date=ISSUED, due_date=DUE, status=Invoice.Status.DRAFT)
    TransactionFactory(invoice=paid)
    invoice_cancel(invoice_id=cancelled.pk, actor=None)
    invoice_send_to_collections(invoice_id=collections.pk, actor=None)

    selected = automation._invoices_due_a_late_fee(AutomationSettings.load(), today=A_WEEK_LATE)

    assert selected == [unpaid.pk]
    assert draft.pk not in selected


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_payment_committed_between_selection_and_lock_gets_no_late_fee(customer, monkeypatch):
    _fees_on()
    invoice = InvoiceFactory(client=customer, issue_date=ISSUED, due_date=DUE)
    select = automation._invoices_due_a_late_fee
    selected = []

    def select_then_the_client_pays(settings, *, today):
        ids = select(settings, today=today)
        selected.extend(ids)
        in_another_thread(lambda: TransactionFactory(invoice=invoice))  # committed before the step locks its batch
        return ids

    monkeypatch.setattr(automation, "_invoices_due_a_late_fee", select_then_the_client_pays)

    step = automation_run(today=A_WEEK_LATE, only=["late_fees"], trigger="test").steps[0]

    assert selected == [invoice.pk]  # the race happened: the invoice was selected while it was Unpaid
    assert (step.error_count, step.counts) == (0, {})
    paid = Invoice.objects.get(pk=invoice.pk)
    assert (paid.status, paid.total, paid.balance_due) == (Invoice.Status.PAID, D("100.00"), D("0"))
    assert not LateFee.objects.filter(invoice=invoice).exists()
    assert not paid.items.filter(kind=InvoiceItem.Kind.LATE_FEE).exists()
