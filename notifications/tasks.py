from celery import shared_task

from notifications import dispatch


@shared_task(name="notifications.dispatch_event")
def dispatch_event(event_id: int) -> None:
    dispatch.dispatch(event_id)


@shared_task(name="notifications.dispatch_events")
def dispatch_events(event_ids: list[int]) -> None:
    dispatch.dispatch_many(event_ids)
