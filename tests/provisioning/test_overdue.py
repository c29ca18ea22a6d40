"""Overdue services: suspended X days after the due date of an unpaid invoice, lifted when it is settled (only
an overdue suspension), terminated after Y days; each once, in batches."""

import datetime
from decimal import Decimal

import psycopg
import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from automation.models import AutomationSettings
from automation.scheduler import automation_run
from billing.models import Invoice
from billing.services import invoice_cancel, payment_record
from notifications.models import Event
from provisioning.automation import _overdue_among
from provisioning.models import Service
from tests.factories import ClientFactory, InvoiceFactory, ServiceFactory

pytestmark = pytest.mark.django_db

DUE = datetime.date(2026, 12, 1)
D = Decimal


def _run(day, *steps, **settings):
    if settings:
        AutomationSettings.objects.filter(pk=AutomationSettings.load().pk).update(**settings)
    outcome = automation_run(today=day, only=list(steps), trigger="test")
    assert outcome.ok, [step.errors for step in outcome.steps]
    return {step.name: step.counts for step in outcome.steps}


def _status(service):
    service.refresh_from_db()
    return service.status, service.suspension_reason


def _days(n):
    return DUE + datetime.timedelta(days=n)


def test_suspended_on_the_day_it_is_x_days_overdue_and_only_once(customer, hosting):
    service = ServiceFactory(client=customer, product=hosting, next_due_date=DUE)
    InvoiceFactory(client=customer, bills=[service], issue_date=DUE, due_date=DUE)
    assert _run(_days(6), "overdue_suspension") == {"overdue_suspension": {}}
    assert _status(service) == ("active", "")
    assert _run(_days(7), "overdue_suspension") == {"overdue_suspension": {"services suspended": 1}}
    assert _status(service) == ("suspended", "overdue")
    assert _run(_days(8), "overdue_suspension") == {"overdue_suspension": {}}
    assert Event.objects.filter(name="ServiceSuspended", payload__service_id=service.pk).count() == 1


def test_nothing_is_suspended_when_the_setting_is_off_or_the_invoice_is_paid(customer, hosting):
    off, paid = (
        ServiceFactory(client=customer, product=hosting, next_due_date=DUE),
        ServiceFactory(client=customer, product=hosting, next_due_date=DUE),
    )
    InvoiceFactory(client=customer, bills=[off], issue_date=DUE, due_date=DUE)
    invoice = InvoiceFactory(client=customer, bills=[paid], issue_date=DUE, due_date=DUE)
    payment_record(invoice_id=invoice.pk, amount=invoice.balance_due, gateway="banktransfer", actor=None)
    assert _run(_days(30), "overdue_suspension", suspend_enabled=False) == {"overdue_suspension": {}}
    assert _run(_days(30), "overdue_suspension", suspend_enabled=True) == {
        "overdue_suspension": {"services suspended": 1}
    }
    assert _status(paid) == ("active", "")


def test_paying_lifts_an_overdue_suspension_at_once_but_never_an_abuse_one(
    customer, hosting, django_capture_on_commit_callbacks
):
    overdue = ServiceFactory(
        client=customer,
        product=hosting,
        next_due_date=DUE,
        status=Service.Status.SUSPENDED,
        suspension_reason="overdue",
    )
    abuse = ServiceFactory(
        client=customer, product=hosting, next_due_date=DUE, status=Service.Status.SUSPENDED, suspension_reason="abuse"
    )
    invoice = InvoiceFactory(client=customer, bills=[overdue, abuse], issue_date=DUE, due_date=DUE)
    with django_capture_on_commit_callbacks(execute=True):
        payment_record(invoice_id=invoice.pk, amount=invoice.balance_due, gateway="banktransfer", actor=None)
    assert _status(overdue) == ("active", "")
    assert _status(abuse) == ("suspended", "abuse")
    assert Event.objects.filter(name="ServiceUnsuspended").count() == 1


def test_no_lift_while_another_invoice_is_still_that_late(customer, hosting, django_capture_on_commit_callbacks):
    service = ServiceFactory(client=customer, product=hosting, next_due_date=DUE)
    earlier = DUE - datetime.timedelta(days=40)
    older = InvoiceFactory(client=customer, bills=[service], period_start=earlier, issue_date=earlier, due_date=earlier)
    newer = InvoiceFactory(client=customer, bills=[service], issue_date=DUE, due_date=DUE)
    _run(_days(7), "overdue_suspension")
    with django_capture_on_commit_callbacks(execute=True):
        payment_record(invoice_id=newer.pk, amount=newer.balance_due, gateway="banktransfer", actor=None)
    assert _run(_days(8), "overdue_unsuspension") == {"overdue_unsuspension": {}}
    assert _status(service) == ("suspended", "overdue")
    with django_capture_on_commit_callbacks(execute=True):
        payment_record(invoice_id=older.pk, amount=older.balance_due, gateway="banktransfer", actor=None)
    assert _status(service) == ("active", "")


def test_the_run_lifts_what_payment_handling_missed_and_respects_the_setting(customer, hosting):
    service = ServiceFactory(client=customer, product=hosting, next_due_date=DUE)
    invoice = InvoiceFactory(client=customer, bills=[service], issue_date=DUE, due_date=DUE)
    _run(_days(7), "overdue_suspension")
    invoice_cancel(invoice_id=invoice.pk, actor=None)  # the admin cancelled it: nothing is overdue any more
    assert _run(_days(8), "overdue_unsuspension", unsuspend_on_payment=False) == {"overdue_unsuspension": {}}
    assert _status(service) == ("suspended", "overdue")
    assert _run(_days(8), "overdue_unsuspension", unsuspend_on_payment=True) == {
        "overdue_unsuspension": {"services unsuspended": 1}
    }
    assert _status(service) == ("active", "")


def test_terminated_y_days_overdue_from_active_or_suspended(customer, hosting):
    active, suspended = (
        ServiceFactory(client=customer, product=hosting, next_due_date=DUE),
        ServiceFactory(
            client=customer,
            product=hosting,
            next_due_date=DUE,
            status=Service.Status.SUSPENDED,
            suspension_reason="abuse",
        ),
    )
    InvoiceFactory(client=customer, bills=[active, suspended], issue_date=DUE, due_date=DUE)
    assert _run(_days(29), "overdue_termination", terminate_enabled=True) == {"overdue_termination": {}}
    assert _run(_days(30), "overdue_termination") == {"overdue_termination": {"services terminated": 2}}
    for service in (active, suspended):
        service.refresh_from_db()
        assert (service.status, service.termination_date, service.suspension_reason) == ("terminated", _days(30), "")
    assert _run(_days(31), "overdue_termination") == {"overdue_termination": {}}


def test_termination_is_off_by_default(customer, hosting):
    service = ServiceFactory(client=customer, product=hosting, next_due_date=DUE)
    InvoiceFactory(client=customer, bills=[service], issue_date=DUE, due_date=DUE)
    assert _run(_days(400), "overdue_termination") == {"overdue_termination": {}}
    assert _status(service)[0] == "active"


def test_a_full_run_suspends_then_terminates_in_order(customer, hosting):
    service = ServiceFactory(client=customer, product=hosting, next_due_date=DUE)
    InvoiceFactory(client=customer, bills=[service], issue_date=DUE, due_date=DUE)
    AutomationSettings.objects.filter(pk=AutomationSettings.load().pk).update(terminate_enabled=True)
    automation_run(today=_days(7))
    assert _status(service) == ("suspended", "overdue")
    automation_run(today=_days(30))
    assert _status(service)[0] == "terminated"
    assert Invoice.objects.get().status == Invoice.Status.UNPAID  # the debt stays on the books


def test_queries_grow_with_batches_not_with_services(hosting, usd):
    def queries_for(count):
        client = ClientFactory(currency=usd)
        services = [ServiceFactory(client=client, product=hosting, next_due_date=DUE) for _ in range(count)]
        InvoiceFactory(client=client, bills=services, issue_date=DUE, due_date=DUE)
        with CaptureQueriesContext(connection) as queries:
            counts = _run(_days(7), "overdue_suspension")
        assert counts == {"overdue_suspension": {"services suspended": count}}
        return len(queries)

    queries_for(1)  # creates the settings row
    assert queries_for(2) == queries_for(40)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_batch_locks_its_overdue_invoices_but_not_their_lines(customer, hosting):
    """The invoices are locked so a payment waits for the batch; their lines are only read. (Django drops "OF"
    from FOR UPDATE when no column of the model itself is selected: the lines used to be locked too.)"""
    first, second = (
        ServiceFactory(client=customer, product=hosting, next_due_date=DUE),
        ServiceFactory(client=customer, product=hosting, next_due_date=DUE),
    )
    invoice = InvoiceFactory(client=customer, bills=[first, second], issue_date=DUE, due_date=DUE)
    line = invoice.items.first()
    db = connection.settings_dict
    url = f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"
    with transaction.atomic():
        assert _overdue_among([first.pk, second.pk], _days(7)) == {first.pk, second.pk}
        with psycopg.connect(url, autocommit=True) as other:
            other.execute("SELECT id FROM billing_invoiceitem WHERE id = %s FOR UPDATE NOWAIT", [line.pk])
            with pytest.raises(psycopg.errors.LockNotAvailable):
                other.execute("SELECT id FROM billing_invoice WHERE id = %s FOR UPDATE NOWAIT", [invoice.pk])
