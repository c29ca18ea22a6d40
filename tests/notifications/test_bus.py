import logging

import pytest
from django.db import transaction

from notifications.bus import dispatch, emit, handlers_for, register
from notifications.models import Event, HandlerRun


def test_handlers_run_after_commit_in_priority_order(db, handlers, django_capture_on_commit_callbacks):
    calls = []

    @handlers("InvoiceCreated", priority=20)
    def second(event):
        calls.append(("second", event.payload["invoice_id"]))

    @handlers("InvoiceCreated", priority=10)
    def first(event):
        calls.append(("first", event.payload["invoice_id"]))

    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        emit("InvoiceCreated", invoice_id=7)
        assert calls == []  # nothing runs before commit
    assert calls == [("first", 7), ("second", 7)]
    assert Event.objects.get(name="InvoiceCreated").dispatched_at is not None


def test_a_failing_handler_is_logged_recorded_and_does_not_stop_the_others(
    db, handlers, caplog, django_capture_on_commit_callbacks
):
    calls = []

    @handlers("OrderCreated", priority=1)
    def broken(event):
        raise RuntimeError("module offline")

    @handlers("OrderCreated", priority=2)
    def healthy(event):
        calls.append(event.pk)

    with caplog.at_level(logging.ERROR), django_capture_on_commit_callbacks(execute=True):
        event = emit("OrderCreated", order_id=1)
    assert calls == [event.pk]
    runs = {run.handler.rsplit(".", 1)[-1]: run for run in HandlerRun.objects.filter(event=event)}
    assert runs["broken"].status == "failed" and "module offline" in runs["broken"].last_error
    assert runs["healthy"].status == "succeeded"
    assert "broken" in caplog.text and "module offline" in caplog.text


def test_dispatching_again_retries_failures_only(db, handlers, django_capture_on_commit_callbacks):
    calls = {"flaky": 0, "steady": 0}

    @handlers("OrderCreated")
    def flaky(event):
        calls["flaky"] += 1
        if calls["flaky"] == 1:
            raise RuntimeError("first attempt fails")

    @handlers("OrderCreated")
    def steady(event):
        calls["steady"] += 1

    with django_capture_on_commit_callbacks(execute=True):
        event = emit("OrderCreated", order_id=1)
    dispatch(event.pk)
    dispatch(event.pk)
    assert calls == {"flaky": 2, "steady": 1}
    flaky_run = HandlerRun.objects.get(event=event, handler__endswith="flaky")
    assert (flaky_run.status, flaky_run.attempts) == ("succeeded", 2)


def test_a_rolled_back_change_announces_nothing(db, handlers, django_capture_on_commit_callbacks):
    calls = []

    @handlers("OrderCreated")
    def listener(event):
        calls.append(event)

    with django_capture_on_commit_callbacks(execute=True), pytest.raises(ZeroDivisionError), transaction.atomic():
        emit("OrderCreated", order_id=1)
        1 / 0  # noqa: B018
    assert calls == [] and not Event.objects.exists()


def test_unknown_event_names_are_refused(db):
    with pytest.raises(ValueError, match="Unknown event"):
        emit("OrderCreatd", order_id=1)
    with pytest.raises(ValueError, match="Unknown event"):
        register("NoSuchEvent")


def test_registering_the_same_handler_twice_keeps_one(handlers):
    def listener(event):
        pass

    handlers("DeleteOrder")(listener)
    register("DeleteOrder")(listener)
    assert [r.handler for r in handlers_for("DeleteOrder")].count(listener) == 1


def test_dispatching_a_missing_event_is_harmless(db):
    dispatch(123456)  # a task retried after its event was deleted
    assert not HandlerRun.objects.exists()


@pytest.mark.django_db  # the email templates are rows
def test_trigger_map_lists_events_and_handlers(handlers):
    from io import StringIO

    from django.core.management import call_command

    @handlers("FraudOrder", priority=5)
    def alert_admin(event):
        pass

    out = StringIO()
    call_command("trigger_map", stdout=out)
    text = out.getvalue()
    assert "FraudOrder: An order and its items were marked as fraud." in text
    assert (
        "    handler   tests.notifications.test_bus.test_trigger_map_lists_events_and_handlers.<locals>.alert_admin"
        "  (priority 5)" in text
    )
    assert "OrderCreated" in text


def test_emit_many_writes_once_and_dispatches_the_lot_after_commit(db, handlers, django_capture_on_commit_callbacks):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from notifications.bus import emit_many

    heard = []

    @handlers("InvoicePaid")
    def listener(event):
        heard.append(event.payload["invoice_id"])

    with django_capture_on_commit_callbacks(execute=True) as callbacks, transaction.atomic():
        with CaptureQueriesContext(connection) as queries:
            emit_many("InvoiceCreated", [{"invoice_id": n} for n in range(50)])
        assert len(queries) == 1  # one INSERT for the fifty
        emit_many("InvoicePaid", [{"invoice_id": 1}, {"invoice_id": 2}])
        assert heard == []  # nothing before commit
    # One dispatch task for the two heard events; none for the fifty nobody listens to (recorded as dispatched).
    assert len(callbacks) == 1
    assert heard == [1, 2]
    assert not Event.objects.filter(dispatched_at__isnull=True).exists()
    assert Event.objects.filter(name="InvoiceCreated").count() == 50
    with pytest.raises(ValueError, match="Unknown event"):
        emit_many("InvoiceCreatd", [{}])
