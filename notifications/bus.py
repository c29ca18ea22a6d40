"""The event bus.

`emit()` writes an Event row in the caller's transaction and asks for dispatch after commit, so a rolled back
change never announces itself. Dispatch (notifications.dispatch, re-exported here) runs the registered handlers
in priority order (lower first); each handler's failure is logged, recorded on its HandlerRun and does not stop
the others. A handler that already succeeded for an event is not run again, so dispatching twice is harmless.
"""

from __future__ import annotations

import json
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder
from django.db.models import QuerySet
from django.db.models.functions import JSONObject
from django.utils import timezone

from core.after_commit import send_after_commit
from core.rows import insert_rows, insert_select
from notifications.dispatch import (
    Handler,
    Registration,
    all_registrations,
    dispatch,
    dispatch_many,
    handlers_for,
    register,
    unregister,
)
from notifications.events import payload_check
from notifications.models import Event
from notifications.tasks import dispatch_event, dispatch_events
from notifications.webhooks import outbox as webhooks

__all__ = [
    "Handler",
    "Registration",
    "all_registrations",
    "dispatch",
    "dispatch_many",
    "emit",
    "emit_many",
    "emit_select",
    "handlers_for",
    "register",
    "unregister",
]

_JSON_PRIMITIVES = (str, int, float, bool, type(None))


def _json_safe(payload: dict[str, Any]) -> dict[str, Any]:
    """The payload as JSON will store it (dates and Decimals as strings). A payload of plain values is returned
    as it is: a batch of the automation run emits hundreds of thousands."""
    if all(type(value) in _JSON_PRIMITIVES for value in payload.values()):
        return payload
    return json.loads(json.dumps(payload, cls=DjangoJSONEncoder))


def emit(event_name: str, **payload: Any) -> Event:
    """Record the event now; dispatch it once the surrounding transaction commits."""
    payload_check(event_name, payload)
    event = Event.objects.create(name=event_name, payload=_json_safe(payload))
    webhooks.outbox_write(event)
    send_after_commit(dispatch_event, event.pk)
    return event


def emit_many(event_name: str, payloads: list[dict[str, Any]]) -> list[int]:
    """emit() for many events of one name at once (a batch of the automation run): one INSERT, and one dispatch
    task for the lot after commit instead of one per event. The fields are checked on the first payload only (a
    batch's payloads share their keys; no per-row work)."""
    payload_check(event_name, payloads[0] if payloads else ())
    if not payloads:
        return []
    now = timezone.now()
    # Nobody listens (no hook, webhook or email handler registered): the events are recorded as dispatched
    # already, the way dispatch() would mark them, and no task is sent for them.
    silent = not handlers_for(event_name)
    endpoint_ids = webhooks.endpoint_ids_for(event_name)
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
        ids=not silent or bool(endpoint_ids),
    )
    webhooks.outbox_write_many(event_name, ids, endpoint_ids)
    if not silent:
        send_after_commit(dispatch_events, ids)
    return ids


def emit_select(event_name: str, queryset: QuerySet, payload: dict[str, Any]) -> int:
    """emit_many for events the database makes from rows it has: one event per row of `queryset`, its payload
    {key: expression over the queryset's model} built by the database (JSON numbers and strings, as emit()
    would store them), in one INSERT ... SELECT. Returns how many events were recorded."""
    payload_check(event_name, payload)
    now = timezone.now()
    silent = not handlers_for(event_name)  # as in emit_many: recorded as dispatched, no task
    endpoint_ids = webhooks.endpoint_ids_for(event_name)
    columns = {"name": event_name, "payload": JSONObject(**payload), "created_at": now}
    if silent:
        columns["dispatched_at"] = now
        if not endpoint_ids:
            return insert_select(Event, queryset, columns)
    ids = [row[0] for row in insert_select(Event, queryset, columns, returning=("id",))]
    webhooks.outbox_write_many(event_name, ids, endpoint_ids)
    if ids and not silent:
        send_after_commit(dispatch_events, ids)
    return len(ids)
