import datetime
from decimal import Decimal

from billing.services import payment_record
from provisioning.models import Domain, Service
from tests.factories import TransactionFactory


def test_paying_an_order_invoice_moves_the_next_due_dates_past_the_paid_period(
    pending_order, django_capture_on_commit_callbacks
):
    service, domain = Service.objects.get(order=pending_order), Domain.objects.get(order=pending_order)
    start = service.registration_date
    with django_capture_on_commit_callbacks(execute=True):  # the InvoicePaid handlers run
        TransactionFactory(invoice=pending_order.invoice)
    service.refresh_from_db()
    domain.refresh_from_db()
    month_item = pending_order.invoice.items.get(kind="service")
    year_item = pending_order.invoice.items.get(kind="domain")
    assert service.next_due_date == month_item.period_end + datetime.timedelta(days=1) > start
    assert domain.next_due_date == year_item.period_end + datetime.timedelta(days=1)


def test_a_partial_payment_moves_nothing(pending_order, django_capture_on_commit_callbacks):
    service = Service.objects.get(order=pending_order)
    before = service.next_due_date
    with django_capture_on_commit_callbacks(execute=True):
        payment_record(invoice_id=pending_order.invoice_id, amount=Decimal("1.00"), gateway="banktransfer", actor=None)
    service.refresh_from_db()
    assert service.next_due_date == before


def test_the_paid_through_date_never_moves_backwards(pending_order, django_capture_on_commit_callbacks):
    from provisioning.services import items_paid_through

    with django_capture_on_commit_callbacks(execute=True):  # the InvoicePaid handlers run
        TransactionFactory(invoice=pending_order.invoice)
    service = Service.objects.get(order=pending_order)
    later = service.next_due_date + datetime.timedelta(days=90)
    Service.objects.filter(pk=service.pk).update(next_due_date=later)
    assert items_paid_through(invoice_id=pending_order.invoice_id) == 0
    service.refresh_from_db()
    assert service.next_due_date == later
