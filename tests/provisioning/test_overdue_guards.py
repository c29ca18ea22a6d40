"""The guards of the overdue steps, each shown by a test of its own.

Unsuspension: only an overdue suspension is lifted. Three paths lift suspensions and each filters on the reason
itself: the InvoicePaid handler, the paid path they both end in (services_unsuspend_paid) and the daily step.
Behind either of the others, a path's own filter could go unnoticed; so the handler's and the step's tests also
look at what they hand to the paid path (a call-through wrapper: the real service still runs).

Suspension and termination: a payment that commits after the step selected the service and before it locks its
batch leaves the service as paid (the overdue check is made again under the invoice locks)."""

import datetime
from decimal import Decimal

import pytest

from automation.models import AutomationSettings
from automation.registry import StepContext
from automation.scheduler import automation_run
from notifications.models import Event
from provisioning import automation
from provisioning.models import Service
from provisioning.services import overdue as services
from tests.concurrency import in_another_thread
from tests.factories import InvoiceFactory, ServiceFactory, TransactionFactory

D = Decimal
DUE = datetime.date(2026, 12, 1)
OVERDUE = Service.SuspensionReason.OVERDUE
ABUSE = Service.SuspensionReason.ABUSE
ADMIN = Service.SuspensionReason.ADMIN


def _service(client, product, *, reason=""):
    status = Service.Status.SUSPENDED if reason else Service.Status.ACTIVE
    return ServiceFactory(client=client, product=product, next_due_date=DUE, status=status, suspension_reason=reason)


def _state(service):
    service.refresh_from_db()
    return service.status, service.suspension_reason


def _handed_to_the_paid_path(monkeypatch, module):
    """Record the ids `module` hands to services_unsuspend_paid, which still runs."""
    handed: list[int] = []
    unsuspend = services.services_unsuspend_paid

    def recording(*, service_ids, actor):
        handed.extend(service_ids)
        return unsuspend(service_ids=service_ids, actor=actor)

    monkeypatch.setattr(module, "services_unsuspend_paid", recording)
    return handed


# --- unsuspension: each path on its own ---------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_paid_path_lifts_an_overdue_suspension_and_never_an_abuse_or_admin_one(customer, hosting):
    overdue, abuse, admin = (_service(customer, hosting, reason=reason) for reason in (OVERDUE, ABUSE, ADMIN))

    lifted = services.services_unsuspend_paid(service_ids=[overdue.pk, abuse.pk, admin.pk], actor=None)

    assert lifted == [overdue.pk]
    assert [_state(s) for s in (overdue, abuse, admin)] == [("active", ""), ("suspended", ABUSE), ("suspended", ADMIN)]
    assert list(Event.objects.filter(name="ServiceUnsuspended").values_list("payload__service_id", flat=True)) == [
        overdue.pk
    ]


@pytest.mark.django_db
def test_the_payment_handler_leaves_an_abuse_or_admin_suspension_in_place(
    customer, hosting, monkeypatch, django_capture_on_commit_callbacks
):
    overdue, abuse, admin = (_service(customer, hosting, reason=reason) for reason in (OVERDUE, ABUSE, ADMIN))
    invoice = InvoiceFactory(client=customer, bills=[overdue, abuse, admin], issue_date=DUE, due_date=DUE)
    handed = _handed_to_the_paid_path(monkeypatch, services)

    with django_capture_on_commit_callbacks(execute=True):
        TransactionFactory(invoice=invoice)

    assert handed == [overdue.pk]
    assert [_state(s) for s in (overdue, abuse, admin)] == [("active", ""), ("suspended", ABUSE), ("suspended", ADMIN)]


@pytest.mark.django_db
def test_the_daily_unsuspension_step_leaves_an_abuse_or_admin_suspension_in_place(customer, hosting, monkeypatch):
    overdue, abuse, admin = (_service(customer, hosting, reason=reason) for reason in (OVERDUE, ABUSE, ADMIN))
    invoice = InvoiceFactory(client=customer, bills=[overdue, abuse, admin], issue_date=DUE, due_date=DUE)
    TransactionFactory(invoice=invoice)  # paid with no handler run: the step lifts what it missed
    handed = _handed_to_the_paid_path(monkeypatch, automation)

    step = automation_run(today=DUE + datetime.timedelta(days=8), only=["overdue_unsuspension"], trigger="test")

    assert step.steps[0].counts == {"services unsuspended": 1}
    assert handed == [overdue.pk]
    assert [_state(s) for s in (overdue, abuse, admin)] == [("active", ""), ("suspended", ABUSE), ("suspended", ADMIN)]


# --- suspension and termination racing a payment ------------------------------------------------------------------


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    ("step_name", "days_late", "moved_event"),
    [("overdue_suspension", 7, "ServiceSuspended"), ("overdue_termination", 30, "ServiceTerminated")],
)
def test_a_payment_committed_between_selection_and_lock_leaves_the_service_as_paid(
    customer, hosting, monkeypatch, step_name, days_late, moved_event
):
    AutomationSettings.objects.filter(pk=AutomationSettings.load().pk).update(terminate_enabled=True)
    service = _service(customer, hosting)
    invoice = InvoiceFactory(client=customer, bills=[service], issue_date=DUE, due_date=DUE)
    each_batch = StepContext.each_batch
    selected = []

    def pay_before_the_batches_lock(self, ids, size, work):
        # Called with the ids the step selected, before any batch locks them.
        if self.step == step_name and not selected:
            selected.extend(ids)
            in_another_thread(lambda: TransactionFactory(invoice=invoice))
        yield from each_batch(self, ids, size, work)

    monkeypatch.setattr(StepContext, "each_batch", pay_before_the_batches_lock)

    run = automation_run(today=DUE + datetime.timedelta(days=days_late), only=[step_name], trigger="test")

    assert selected == [service.pk]  # the race happened: the service was selected while its invoice was unpaid
    assert (run.steps[0].error_count, run.steps[0].counts) == (0, {})
    assert _state(service) == ("active", "")
    assert not Event.objects.filter(name=moved_event).exists()
