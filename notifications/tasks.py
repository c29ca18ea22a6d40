import datetime
import logging

from celery import shared_task

from notifications import dispatch, sweep

logger = logging.getLogger("notifications.bus")


@shared_task(name="notifications.dispatch_event")
def dispatch_event(event_id: int) -> None:
    dispatch.dispatch(event_id)


@shared_task(name="notifications.dispatch_events")
def dispatch_events(event_ids: list[int]) -> None:
    dispatch.dispatch_many(event_ids)


@shared_task(name="notifications.bus_sweep")
def bus_sweep(older_than_seconds: float | None = None) -> dict:
    """Celery beat's sweep (every minute): dispatch the events left undispatched and the retries that are due."""
    older_than = None if older_than_seconds is None else datetime.timedelta(seconds=older_than_seconds)
    outcome = sweep.bus_sweep(older_than=older_than)
    return {"events_dispatched": outcome.events_dispatched, "retries_due": outcome.retries_due}


# The email tasks live with the emails; imported here so Celery's autodiscovery (which imports <app>.tasks) and
# NotificationsConfig.ready() register them.
from notifications.emails.tasks import email_sweep, send_emails  # noqa: E402, F401
