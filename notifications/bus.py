"""The event bus.

`emit()` writes an Event row in the caller's transaction and asks for dispatch after commit, so a rolled back
change never announces itself. Dispatch runs the registered handlers in priority order (lower first); each
handler's failure is logged, recorded on its HandlerRun and does not stop the others. A handler that already
succeeded for an event is not run again, so dispatching twice is harmless.
"""

from __future__ import annotations

import json
import logging
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder
from django.db import IntegrityError, transaction
from django.db.models import QuerySet
from django.db.models.functions import JSONObject
from django.utils import timezone

from core.rows import insert_rows, insert_select
from notifications.events import EVENTS
from notifications.models import Event, HandlerRun

logger = logging.getLogger(__name__)

Handler = Callable[[Event], None]


@dataclass(frozen=True)
class Registration:
    event_name: str
    priority: int
    handler: Handler

    @property
    def dotted_name(self) -> str:
        return f"{self.handler.__module__}.{self.handler.__qualname__}"


_registry: dict[str, list[Registration]] = {}


def register(event_name: str, *, priority: int = 100) -> Callable[[Handler], Handler]:
    """Decorator: run `handler(event)` after `event_name` commits. Handlers are found by AppConfig.ready()."""
    if event_name not in EVENTS:
        raise ValueError(f"Unknown event {event_name!r}: add it to notifications.events.EVENTS first.")

    def decorator(handler: Handler) -> Handler:
        registrations = _registry.setdefault(event_name, [])
        if not any(r.handler is handler for r in registrations):
            registrations.append(Registration(event_name, priority, handler))
            registrations.sort(key=lambda r: (r.priority, r.dotted_name))
        return handler

    return decorator


def unregister(event_name: str, handler: Handler) -> None:
    _registry[event_name] = [r for r in _registry.get(event_name, []) if r.handler is not handler]


def handlers_for(event_name: str) -> list[Registration]:
    return list(_registry.get(event_name, []))


def all_registrations() -> dict[str, list[Registration]]:
    return {name: handlers_for(name) for name in EVENTS}


_JSON_PRIMITIVES = (str, int, float, bool, type(None))


def _json_safe(payload: dict[str, Any]) -> dict[str, Any]:
    """The payload as JSON will store it (dates and Decimals as strings). A payload of plain values is returned
    as it is: a batch of the automation run emits hundreds of thousands."""
    if all(type(value) in _JSON_PRIMITIVES for value in payload.values()):
        return payload
    return json.loads(json.dumps(payload, cls=DjangoJSONEncoder))


def emit(event_name: str, **payload: Any) -> Event:
    """Record the event now; dispatch it once the surrounding transaction commits."""
    if event_name not in EVENTS:
        raise ValueError(f"Unknown event {event_name!r}: add it to notifications.events.EVENTS first.")
    event = Event.objects.create(name=event_name, payload=_json_safe(payload))
    from notifications.tasks import dispatch_event

    dispatch_event.delay_on_commit(event.pk)
    return event


def emit_many(event_name: str, payloads: list[dict[str, Any]]) -> list[int]:
    """emit() for many events of one name at once (a batch of the automation run): one INSERT, and one dispatch
    task for the lot after commit instead of one per event."""
    if event_name not in EVENTS:
        raise ValueError(f"Unknown event {event_name!r}: add it to notifications.events.EVENTS first.")
    if not payloads:
        return []
    now = timezone.now()
    # Nobody listens (no hook, webhook or email handler registered): the events are recorded as dispatched
    # already, the way dispatch() would mark them, and no task is sent for them.
    silent = not handlers_for(event_name)
    ids = insert_rows(
        Event,
        [
            {
                "name": event_name,
                "payload": _json_safe(payload),
                "created_at": now,
                "dispatched_at": now if silent else None,
            }
            for payload in payloads
        ],
        ids=not silent,
    )
    if not silent:
        from notifications.tasks import dispatch_events

        dispatch_events.delay_on_commit(ids)
    return ids


def emit_select(event_name: str, queryset: QuerySet, payload: dict[str, Any]) -> int:
    """emit_many for events the database makes from rows it has: one event per row of `queryset`, its payload
    {key: expression over the queryset's model} built by the database (JSON numbers and strings, as emit()
    would store them), in one INSERT ... SELECT. Returns how many events were recorded."""
    if event_name not in EVENTS:
        raise ValueError(f"Unknown event {event_name!r}: add it to notifications.events.EVENTS first.")
    now = timezone.now()
    silent = not handlers_for(event_name)  # as in emit_many: recorded as dispatched, no task
    columns = {"name": event_name, "payload": JSONObject(**payload), "created_at": now}
    if silent:
        return insert_select(Event, queryset, {**columns, "dispatched_at": now})
    ids = [row[0] for row in insert_select(Event, queryset, columns, returning=("id",))]
    if ids:
        from notifications.tasks import dispatch_events

        dispatch_events.delay_on_commit(ids)
    return len(ids)


def dispatch_many(event_ids: list[int]) -> None:
    """Dispatch a batch's events (emit_many sends only those somebody listens to), oldest first."""
    for event_id in sorted(event_ids):
        dispatch(event_id)


def dispatch(event_id: int) -> None:
    event = Event.objects.filter(pk=event_id).first()
    if event is None:
        logger.warning("Event %s no longer exists; nothing to dispatch.", event_id)
        return
    done = set(
        HandlerRun.objects.filter(event=event, status=HandlerRun.Status.SUCCEEDED).values_list("handler", flat=True)
    )
    for registration in handlers_for(event.name):
        if registration.dotted_name in done:
            continue
        _run_one(event, registration)
    Event.objects.filter(pk=event.pk, dispatched_at__isnull=True).update(dispatched_at=timezone.now())


def _run_one(event: Event, registration: Registration) -> None:
    """Claim the (event, handler) row and hold its lock while the handler runs: a second dispatcher of the same
    event waits on it, then finds the run succeeded and skips it. The handler's own writes commit with the claim,
    so a worker killed mid-handler leaves no row and the next dispatch runs the handler again."""
    with transaction.atomic():
        run = _claim(event, registration.dotted_name)
        if run.status == HandlerRun.Status.SUCCEEDED:
            return
        run.attempts += 1
        try:
            with transaction.atomic():
                registration.handler(event)
        except Exception:  # a handler's fault must not stop the others; it is recorded and logged
            run.status, run.last_error = HandlerRun.Status.FAILED, traceback.format_exc()
            logger.exception("Handler %s failed on event %s #%s", registration.dotted_name, event.name, event.pk)
        else:
            run.status, run.last_error = HandlerRun.Status.SUCCEEDED, ""
        run.finished_at = timezone.now()
        run.save(update_fields=["status", "attempts", "last_error", "finished_at"])


def _claim(event: Event, handler: str) -> HandlerRun:
    try:
        with transaction.atomic():
            return HandlerRun.objects.create(event=event, handler=handler, status=HandlerRun.Status.RUNNING)
    except IntegrityError:  # claimed before: wait for whoever holds it, then look at what they recorded
        return HandlerRun.objects.select_for_update().get(event=event, handler=handler)
