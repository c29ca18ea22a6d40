from celery import shared_task

from notifications import dispatch


@shared_task(name="notifications.dispatch_event")
def dispatch_event(event_id: int) -> None:
    dispatch.dispatch(event_id)


@shared_task(name="notifications.dispatch_events")
def dispatch_events(event_ids: list[int]) -> None:
    dispatch.dispatch_many(event_ids)


# The email tasks live with the emails; imported here so Celery's autodiscovery (which imports <app>.tasks) and
# NotificationsConfig.ready() register them.
from notifications.emails.tasks import email_sweep, send_emails  # noqa: E402, F401
