import datetime
import logging

from celery import shared_task
from django.db import transaction
from kombu.exceptions import OperationalError

from notifications import dispatch, sweep

logger = logging.getLogger("notifications.bus")


def send_after_commit(task, *args) -> None:
    """`task.delay(*args)` once the transaction commits. A broker that cannot take it (Redis down) is logged, not
    raised: the change has committed and its events are in the outbox, where the sweep finds them."""

    def send() -> None:
        try:
            task.delay(*args)
        except OperationalError:
            logger.warning("The broker refused %s%r; the sweep will dispatch it later.", task.name, args)

    transaction.on_commit(send)


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
