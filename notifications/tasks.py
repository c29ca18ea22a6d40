import datetime

from celery import shared_task
from django.utils import timezone

from notifications import bus
from notifications.scheduler import automation_run


@shared_task(name="notifications.dispatch_event")
def dispatch_event(event_id: int) -> None:
    bus.dispatch(event_id)


@shared_task(name="notifications.dispatch_events")
def dispatch_events(event_ids: list[int]) -> None:
    bus.dispatch_many(event_ids)


@shared_task(name="notifications.automation_run")
def automation_run_task(date: str | None = None) -> bool:
    """The daily run, started by Celery beat (on the "automation" queue). Returns whether every step went well;
    what each step did is in the automation log."""
    today = datetime.date.fromisoformat(date) if date else timezone.localdate()
    return automation_run(today=today, trigger="beat").ok
