"""A failed handler is retried with backoff and jitter until it gives up; the sweep dispatches what a lost task
left and the retries that are due, in a few queries per batch; an admin retries what gave up; and a handler that
succeeded never runs again for its event."""

import datetime

import pytest
from django.urls import reverse
from django.utils import timezone

from billing.services import payment_record
from notifications import sweep
from notifications.bus import dispatch, emit
from notifications.dispatch import retry_delay
from notifications.models import ActivityLog, Event, HandlerRun
from notifications.retries import RetryResult, handler_runs_retry
from provisioning.models import Service

pytestmark = pytest.mark.django_db


@pytest.fixture
def retry_settings(settings):
    settings.PORTAL_HANDLER_RETRY_LIMIT = 3
    settings.PORTAL_HANDLER_RETRY_BASE_SECONDS = 10
    settings.PORTAL_HANDLER_RETRY_MAX_SECONDS = 25
    return settings


def _make_due(**filters) -> None:
    """Time passes: the failed runs' retries are due now."""
    HandlerRun.objects.filter(next_attempt_at__isnull=False, **filters).update(
        next_attempt_at=timezone.now() - datetime.timedelta(seconds=1)
    )


def test_the_wait_doubles_up_to_the_cap_with_jitter(retry_settings):
    for attempts, full in [(1, 10), (2, 20), (3, 25), (9, 25)]:
        waits = {retry_delay(attempts).total_seconds() for _ in range(50)}
        assert all(full / 2 <= wait <= full for wait in waits), (attempts, waits)
        assert len(waits) > 1  # jittered: runs that failed together do not retry together


def test_a_failing_handler_is_retried_when_due_until_it_gives_up(
    retry_settings, handlers, django_capture_on_commit_callbacks
):
    calls = []

    @handlers("OrderCreated")
    def always_failing(event):
        calls.append(event.pk)
        raise RuntimeError("module offline")

    with django_capture_on_commit_callbacks(execute=True):
        event = emit("OrderCreated", order_id=1)
    run = HandlerRun.objects.get(event=event, handler__endswith=".always_failing")
    assert (run.status, run.attempts, run.gave_up) == ("failed", 1, False)
    assert timezone.now() + datetime.timedelta(seconds=4) < run.next_attempt_at
    assert run.next_attempt_at <= timezone.now() + datetime.timedelta(seconds=10)

    assert sweep.bus_sweep().retries_due == 0  # not due yet: nothing runs
    assert len(calls) == 1
    _make_due()
    assert sweep.bus_sweep().retries_due == 1
    _make_due()
    sweep.bus_sweep()
    run.refresh_from_db()
    assert (run.status, run.attempts, run.gave_up, len(calls)) == ("failed", 3, True, 3)
    assert "module offline" in run.last_error
    sweep.bus_sweep()
    dispatch(event.pk)  # a gave-up run waits for an admin, whoever dispatches again
    assert len(calls) == 3


def test_the_sweep_dispatches_events_left_undispatched_a_few_minutes(handlers, settings):
    heard = []

    @handlers("InvoicePaid")
    def listener(event):
        heard.append(event.payload["invoice_id"])

    old = timezone.now() - settings.PORTAL_BUS_SWEEP_AFTER - datetime.timedelta(seconds=1)
    # Written as emit() writes them, but their dispatch tasks were lost (Redis down at commit, a worker killed).
    lost = Event.objects.create(name="InvoicePaid", payload={"invoice_id": 1}, created_at=old)
    recent = Event.objects.create(name="InvoicePaid", payload={"invoice_id": 2})
    outcome = sweep.bus_sweep()
    assert (outcome.events_dispatched, heard) == (1, [1])
    lost.refresh_from_db()
    recent.refresh_from_db()
    assert lost.dispatched_at is not None and recent.dispatched_at is None  # its task may still be on its way
    assert sweep.bus_sweep().events_dispatched == 0


def test_the_sweep_costs_a_few_queries_per_batch_not_per_event(
    handlers, settings, monkeypatch, django_assert_max_num_queries
):
    @handlers("AcceptOrder")
    def listener(event):
        raise AssertionError("succeeded before: must not run again")

    old = timezone.now() - datetime.timedelta(hours=1)
    events = Event.objects.bulk_create(
        [Event(name="AcceptOrder", payload={"order_id": n}, created_at=old) for n in range(120)]
        + [Event(name="InvoiceCreated", payload={"invoice_id": n}, created_at=old) for n in range(120)]
    )
    # The AcceptOrder handler succeeded, but the worker died before the events were marked dispatched.
    handler = f"{listener.__module__}.{listener.__qualname__}"
    HandlerRun.objects.bulk_create(
        [
            HandlerRun(event=e, handler=handler, status="succeeded", attempts=1)
            for e in events
            if e.name == "AcceptOrder"
        ]
    )
    monkeypatch.setattr(sweep, "SWEEP_BATCH", 100)
    # Per batch of 100: its ids, then the events, their runs, the switches and one UPDATE; then one empty read
    # of each kind. 240 events make three batches.
    with django_assert_max_num_queries(3 * 5 + 2):
        outcome = sweep.bus_sweep()
    assert outcome.events_dispatched == 240
    assert not Event.objects.filter(dispatched_at__isnull=True).exists()


def test_dispatching_an_event_twice_gives_one_effect(handlers, django_capture_on_commit_callbacks):
    @handlers("OrderCreated")
    def effect(event):
        ActivityLog.objects.create(actor_label="system", action="effect", subject_type="test", message="once")

    with django_capture_on_commit_callbacks(execute=True):
        event = emit("OrderCreated", order_id=1)
    dispatch(event.pk)
    sweep.bus_sweep(older_than=datetime.timedelta(0))
    Event.objects.filter(pk=event.pk).update(dispatched_at=None)
    sweep.bus_sweep(older_than=datetime.timedelta(0))
    assert ActivityLog.objects.filter(action="effect").count() == 1


def test_the_payment_handlers_are_idempotent_themselves(pending_order, django_capture_on_commit_callbacks):
    """Even without the handler-run row (a restore, a replay), InvoicePaid's handlers move the dates once."""
    service = Service.objects.get(order=pending_order)
    invoice = pending_order.invoice
    with django_capture_on_commit_callbacks(execute=True):
        payment_record(invoice_id=invoice.pk, amount=invoice.balance_due, gateway="banktransfer", actor=None)
    service.refresh_from_db()
    moved_to = service.next_due_date
    paid = Event.objects.get(name="InvoicePaid")
    for _ in range(2):
        HandlerRun.objects.filter(event=paid).delete()
        dispatch(paid.pk)
    service.refresh_from_db()
    assert service.next_due_date == moved_to
    assert set(HandlerRun.objects.filter(event=paid).values_list("status", flat=True)) == {"succeeded"}


def _gave_up_run(handlers, retry_settings, django_capture_on_commit_callbacks, state):
    @handlers("OrderCreated")
    def flaky(event):
        state["calls"] += 1
        if state["broken"]:
            raise RuntimeError("still broken")

    retry_settings.PORTAL_HANDLER_RETRY_LIMIT = 1
    with django_capture_on_commit_callbacks(execute=True):
        event = emit("OrderCreated", order_id=1)
    run = HandlerRun.objects.get(event=event, handler__endswith=".flaky")
    assert run.gave_up
    return run


def test_an_admin_retries_a_run_that_gave_up_and_it_runs_only_that_handler(
    handlers, retry_settings, django_capture_on_commit_callbacks, admin_client
):
    state = {"calls": 0, "broken": True}
    run = _gave_up_run(handlers, retry_settings, django_capture_on_commit_callbacks, state)

    @handlers("OrderCreated")
    def other(event):
        state["other"] = state.get("other", 0) + 1

    page = admin_client.get(reverse("admin:notifications_handlerrun_changelist"))
    assert b"gave up" in page.content and b"Retry the selected failed handler runs now" in page.content
    changelist = reverse("admin:notifications_handlerrun_changelist")
    response = admin_client.post(changelist, {"action": "retry", "_selected_action": [run.pk]}, follow=True)
    assert b"Retried: 1 failed again." in response.content
    state["broken"] = False
    response = admin_client.post(changelist, {"action": "retry", "_selected_action": [run.pk]}, follow=True)
    assert b"Retried: 1 succeeded." in response.content
    run.refresh_from_db()
    assert (run.status, run.attempts, state["calls"]) == ("succeeded", 3, 3)
    assert "other" not in state  # only the retried handler ran
    assert ActivityLog.objects.filter(action="handler_retried").count() == 2
    # A run that succeeded never runs again, from either admin.
    assert handler_runs_retry(run_ids=[run.pk], actor=None)[0].result is RetryResult.ALREADY_SUCCEEDED
    events = reverse("admin:notifications_event_changelist")
    admin_client.post(events, {"action": "retry_failed_runs", "_selected_action": [run.event_id]}, follow=True)
    assert state["calls"] == 3


def test_retrying_needs_the_change_permission(
    handlers, retry_settings, django_capture_on_commit_callbacks, client, django_user_model
):
    from django.contrib.auth.models import Permission

    state = {"calls": 0, "broken": True}
    run = _gave_up_run(handlers, retry_settings, django_capture_on_commit_callbacks, state)
    viewer = django_user_model.objects.create_user("viewer", password="pw", is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_handlerrun"))
    client.force_login(viewer)
    changelist = reverse("admin:notifications_handlerrun_changelist")
    page = client.get(changelist)
    assert page.status_code == 200 and b"Retry the selected" not in page.content
    client.post(changelist, {"action": "retry", "_selected_action": [run.pk]})
    run.refresh_from_db()
    assert run.attempts == 1 and state["calls"] == 1
