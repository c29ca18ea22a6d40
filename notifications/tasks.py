from celery import shared_task

from notifications import bus


@shared_task(name="notifications.dispatch_event")
def dispatch_event(event_id: int) -> None:
    bus.dispatch(event_id)
