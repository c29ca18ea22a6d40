"""Who hears an event, and running them: the handler registry (`@register(...)`, filled by the apps' ready()) and
dispatch, which runs an event's handlers once each. The bus (notifications.bus) writes events and, after commit,
sends the tasks (notifications.tasks) that call dispatch here; it re-exports everything public of this module."""

from __future__ import annotations

import logging
import traceback
from collections.abc import Callable
from dataclasses import dataclass

from django.db import IntegrityError, transaction
from django.utils import timezone

from notifications.events import EVENTS
from notifications.models import Event, HandlerRun

logger = logging.getLogger("notifications.bus")

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
