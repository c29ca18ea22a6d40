"""The automation run sweeps the bus too, for installs without Celery beat: events whose dispatch task was lost are
dispatched by the run's event_sweep step; a dry run only says how many wait."""

import datetime

import pytest
from django.utils import timezone

from automation.registry import registered_steps
from automation.scheduler import automation_run
from notifications.bus import register, unregister
from notifications.models import Event, HandlerRun

pytestmark = pytest.mark.django_db
DAY = datetime.date(2026, 12, 10)


@pytest.fixture
def lost_event():
    heard = []

    def listener(event):
        heard.append(event.pk)

    register("AcceptOrder")(listener)
    old = timezone.now() - datetime.timedelta(hours=1)
    event = Event.objects.create(name="AcceptOrder", payload={"order_id": 1, "client_id": 1}, created_at=old)
    yield event, heard
    unregister("AcceptOrder", listener)


def test_the_beat_schedule_and_the_run_both_sweep():
    from django_celery_beat.models import PeriodicTask

    sweep = PeriodicTask.objects.get(task="notifications.bus_sweep")
    assert (sweep.enabled, sweep.interval.every, sweep.interval.period) == (True, 1, "minutes")
    assert "event_sweep" in [step.name for step in registered_steps()]


def test_the_run_dispatches_an_event_whose_task_was_lost(lost_event):
    event, heard = lost_event
    outcome = automation_run(today=DAY, only=["event_sweep"])
    step = next(step for step in outcome.steps if step.name == "event_sweep")
    assert step.counts == {"events dispatched": 1}
    assert heard == [event.pk]
    assert HandlerRun.objects.get(event=event).status == "succeeded"


def test_a_dry_run_says_what_waits_and_dispatches_nothing(lost_event):
    _, heard = lost_event
    outcome = automation_run(today=DAY, only=["event_sweep"], dry_run=True)
    step = next(step for step in outcome.steps if step.name == "event_sweep")
    assert step.plan == ["1 event(s) wait to be dispatched"] and heard == []
