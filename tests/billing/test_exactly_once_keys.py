"""The exactly-once guards of billing, each shown by a test of its own: the (gateway, transaction id) key of a
payment, the (service or domain, period start) key of an invoice line, and the locked counter behind a batch's
invoice numbers. The races are made on purpose, in a fixed order (tests.concurrency.second_inside_first), not
left to timing."""

import datetime
from decimal import Decimal

import pytest
from django.db import IntegrityError, transaction

from billing.models import Invoice, InvoiceItem, InvoiceNumberCounter, Transaction
from billing.services import invoice_create, payment_record
from billing.services.invoices import InvoiceDraft, invoices_create_bulk
from notifications.models import Event
from tests.concurrency import Overlap, second_inside_first
from tests.factories import ClientFactory, InvoiceFactory, InvoiceLineFactory

D = Decimal
PERIOD_START = datetime.date(2026, 12, 1)


def _service_line(service_id, *, start=PERIOD_START, kind=InvoiceItem.Kind.SERVICE):
    """A line billing a month of service `service_id` (or, by kind, what else the id names) from `start`."""
    return InvoiceLineFactory(kind=kind, related_id=service_id, amount=D("4.99"), period_start=start)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_one_gateway_transaction_id_recorded_on_two_invoices_at_once_is_one_payment(customer):
    """Each payment holds only its own invoice's lock, so nothing but the (gateway, transaction id) key stops the
    second: it checks for the id while the first's row is written but not committed."""
    first_invoice, second_invoice = InvoiceFactory(client=customer), InvoiceFactory(client=customer)

    def pay(invoice):
        return lambda: payment_record(
            invoice_id=invoice.pk, amount=D("100.00"), gateway="sandbox", gateway_transaction_id="ch_1", actor=None
        )

    first, second = second_inside_first(pay(first_invoice), pay(second_invoice))

    assert (first.created, second.created) == (True, False)
    assert second.transaction.pk == first.transaction.pk
    assert Transaction.objects.filter(gateway="sandbox", gateway_transaction_id="ch_1").count() == 1
    statuses = dict(Invoice.objects.filter(pk__in=[first_invoice.pk, second_invoice.pk]).values_list("pk", "status"))
    assert statuses == {first_invoice.pk: Invoice.Status.PAID, second_invoice.pk: Invoice.Status.UNPAID}
    assert Event.objects.filter(name="InvoicePaid").count() == 1


@pytest.mark.django_db
@pytest.mark.parametrize("kind", [InvoiceItem.Kind.SERVICE, InvoiceItem.Kind.DOMAIN])
def test_invoicing_a_service_or_domain_twice_for_the_same_period_is_refused_by_the_database(customer, kind):
    invoice_create(client=customer, lines=[_service_line(7, kind=kind)], actor=None)

    with pytest.raises(IntegrityError):
        invoice_create(client=customer, lines=[_service_line(7, kind=kind)], actor=None)

    assert Invoice.objects.count() == 1
    assert InvoiceItem.objects.filter(kind=kind, related_id=7, period_start=PERIOD_START).count() == 1


@pytest.mark.django_db
def test_the_next_period_or_another_service_is_invoiced_as_usual(customer):
    invoice_create(client=customer, lines=[_service_line(7)], actor=None)
    invoice_create(client=customer, lines=[_service_line(7, start=datetime.date(2027, 1, 1))], actor=None)
    invoice_create(client=customer, lines=[_service_line(8)], actor=None)
    invoice_create(client=customer, lines=[_service_line(7, kind=InvoiceItem.Kind.DOMAIN)], actor=None)

    assert InvoiceItem.objects.count() == 4


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_renewal_batches_numbering_at_once_take_consecutive_numbers_one_after_the_other(usd, monkeypatch):
    """The second batch reads the counter after the first has read it and before the first writes it back: only
    the counter row's lock makes the second wait and number after the first batch, instead of taking the same
    numbers again. (Paused after its write, the first would make the second wait anyway: the insert that
    creates a missing counter row waits for a row being changed. That hid the lock's removal.)"""
    overlap = Overlap()
    counter_save = InvoiceNumberCounter.save

    def save_once_the_other_batch_has_read(self, *args, **kwargs):
        overlap.pause()
        return counter_save(self, *args, **kwargs)

    monkeypatch.setattr(InvoiceNumberCounter, "save", save_once_the_other_batch_has_read)
    clients = [ClientFactory(currency=usd) for _ in range(4)]
    today = datetime.date(2026, 11, 24)
    assert InvoiceFactory(client=clients[0], issue_date=today).number == "INV-2026-000001"

    def batch(batch_clients):
        drafts = [
            InvoiceDraft(client_id=client.pk, due_date=PERIOD_START, lines=[_service_line(client.pk)])
            for client in batch_clients
        ]

        def work():
            with transaction.atomic():  # as the renewal step runs each batch
                return [invoice.number for invoice in invoices_create_bulk(drafts=drafts, issue_date=today, actor=None)]

        return work

    first, second = overlap.run(batch(clients[:2]), batch(clients[2:]))

    assert first == ["INV-2026-000002", "INV-2026-000003"]
    assert second == ["INV-2026-000004", "INV-2026-000005"]
    assert InvoiceNumberCounter.objects.get(scope="2026").last_value == 5
