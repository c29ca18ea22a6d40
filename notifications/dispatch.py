"""Who hears an event, and running them: the handler registry (`@register(...)`, filled by the apps' ready() and by
the hook packages named in PORTAL_HOOK_PACKAGES) and dispatch, which runs an event's handlers once each. The bus
(notifications.bus) writes events and, after commit, sends the tasks (notifications.tasks) that call dispatch
here; it re-exports everything public of this module.

A handler that fails is retried with exponential backoff and jitter (PORTAL_HANDLER_RETRY_*): its HandlerRun
keeps the attempts, the last error and when to try again, and the sweep (notifications.sweep) runs it then. After
the last attempt it gave up and waits for an admin's retry (handler_run_retry). A handler that succeeded for an
event never runs for it again, and a hook an admin switched off for an event (HookSwitch) is skipped."""

from __future__ import annotations

import datetime
import logging
import traceback
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from core.backoff import backoff
from notifications.events import EVENTS
from notifications.hook_models import switched_off
from notifications.models import Event, HandlerRun

logger = logging.getLogger("notifications.bus")

Handler = Callable[[Event], None]

# How many events one dispatch reads at once (its bookkeeping is a few queries per chunk, never per event).
DISPATCH_CHUNK = 500


@dataclass(frozen=True)
class Registration:
    event_name: str
    priority: int
    handler: Handler
    package: str = ""  # the hook package (PORTAL_HOOK_PACKAGES) it came from; empty: the project's own handler

    @property
    def dotted_name(self) -> str:
        return f"{self.handler.__module__}.{self.handler.__qualname__}"

    @property
    def kind(self) -> str:
        """As the trigger map names it: "hook" from a hook package, "handler" from the project."""
        return "hook" if self.package else "handler"


_registry: dict[str, list[Registration]] = {}


def hook_package_of(module: str) -> str:
    """The hook package (a PORTAL_HOOK_PACKAGES entry) `module` belongs to, or ""."""
    for package in getattr(settings, "PORTAL_HOOK_PACKAGES", ()):
        if module == package or module.startswith(package + "."):
            return package
    return ""


def register(event_name: str, *, priority: int = 100) -> Callable[[Handler], Handler]:
    """Decorator: run `handler(event)` after `event_name` commits. Handlers are found by AppConfig.ready()."""
    if event_name not in EVENTS:
        raise ValueError(f"Unknown event {event_name!r}: add it to notifications.events.CATALOG first.")

    def decorator(handler: Handler) -> Handler:
        registrations = _registry.setdefault(event_name, [])
        if not any(r.handler is handler for r in registrations):
            registrations.append(Registration(event_name, priority, handler, hook_package_of(handler.__module__)))
            registrations.sort(key=lambda r: (r.priority, r.dotted_name))
        return handler

    return decorator


def unregister(event_name: str, handler: Handler) -> None:
    _registry[event_name] = [r for r in _registry.get(event_name, []) if r.handler is not handler]


def handlers_for(event_name: str) -> list[Registration]:
    return list(_registry.get(event_name, []))


def all_registrations() -> dict[str, list[Registration]]:
    return {name: handlers_for(name) for name in EVENTS}


def retry_delay(attempts: int) -> datetime.timedelta:
    """How long after its `attempts`-th failure a handler is tried again (core.backoff: doubling from the base up
    to the cap, with jitter so runs that failed together do not retry together)."""
    return backoff(
        attempts,
        base_seconds=settings.PORTAL_HANDLER_RETRY_BASE_SECONDS,
        max_seconds=settings.PORTAL_HANDLER_RETRY_MAX_SECONDS,
    )


def dispatch(event_id: int) -> None:
    dispatch_many([event_id])


def dispatch_many(event_ids: Iterable[int]) -> None:
    """Dispatch these events, oldest first: each handler that has not succeeded for its event and is not switched
    off runs, unless it failed and its next attempt is not due yet (or it gave up). Then the events are marked
    dispatched. The bookkeeping is four queries per chunk of events; only the handlers' runs cost per event."""
    ids = sorted(set(event_ids))
    for start in range(0, len(ids), DISPATCH_CHUNK):
        _dispatch_chunk(ids[start : start + DISPATCH_CHUNK])


def _dispatch_chunk(ids: list[int]) -> None:
    events = list(Event.objects.filter(pk__any=ids).order_by("pk"))
    if len(events) < len(ids):
        logger.warning("%s event(s) no longer exist; nothing to dispatch for them.", len(ids) - len(events))
    if not events:
        return
    runs = {
        (event_id, handler): (status, next_attempt_at)
        for event_id, handler, status, next_attempt_at in HandlerRun.objects.filter(
            event_id__any=[event.pk for event in events]
        ).values_list("event_id", "handler", "status", "next_attempt_at")
    }
    off = switched_off({event.name for event in events})
    now = timezone.now()
    for event in events:
        for registration in handlers_for(event.name):
            if (event.name, registration.dotted_name) in off:
                continue
            run = runs.get((event.pk, registration.dotted_name))
            if run is not None and not _due(*run, now=now):
                continue
            run_handler(event, registration)
    Event.objects.filter(pk__any=[event.pk for event in events], dispatched_at__isnull=True).update(
        dispatched_at=timezone.now()
    )


def _due(status: str, next_attempt_at: datetime.datetime | None, *, now: datetime.datetime) -> bool:
    """Whether a handler with this run is to run now: never after a success, a failed one when its retry is due."""
    return status == HandlerRun.Status.FAILED and next_attempt_at is not None and next_attempt_at <= now


def run_handler(event: Event, registration: Registration, *, force: bool = False) -> HandlerRun | None:
    """Run one handler on one event, once. Claim the (event, handler) row and hold its lock while the handler runs:
    a second dispatcher of the same event waits on it, then finds the run succeeded (or not yet due) and skips it.
    The handler's own writes commit with the claim, so a worker killed mid-handler leaves no row and the next
    dispatch (a redelivered task, or the sweep) runs the handler again. `force` (an admin's retry) runs a failed
    run whatever its next attempt time; a succeeded one never runs again. Returns the run, None if skipped."""
    with transaction.atomic():
        run = _claim(event, registration.dotted_name)
        if run.status == HandlerRun.Status.SUCCEEDED:
            return None
        if run.attempts and not force and not _due(run.status, run.next_attempt_at, now=timezone.now()):
            return None
        run.attempts += 1
        try:
            with transaction.atomic():
                registration.handler(event)
        except Exception:  # a handler's fault must not stop the others; it is recorded and logged
            run.status, run.last_error = HandlerRun.Status.FAILED, traceback.format_exc()
            limit = settings.PORTAL_HANDLER_RETRY_LIMIT
            run.next_attempt_at = timezone.now() + retry_delay(run.attempts) if run.attempts < limit else None
            logger.exception(
                "Handler %s failed on event %s #%s (attempt %s of %s%s)",
                registration.dotted_name,
                event.name,
                event.pk,
                run.attempts,
                limit,
                "; gave up" if run.next_attempt_at is None else f"; next at {run.next_attempt_at:%H:%M:%S}",
            )
        else:
            run.status, run.last_error, run.next_attempt_at = HandlerRun.Status.SUCCEEDED, "", None
        run.finished_at = timezone.now()
        run.save(update_fields=["status", "attempts", "last_error", "finished_at", "next_attempt_at"])
    return run


def _claim(event: Event, handler: str) -> HandlerRun:
    try:
        with transaction.atomic():
            return HandlerRun.objects.create(event=event, handler=handler, status=HandlerRun.Status.RUNNING)
    except IntegrityError:  # claimed before: wait for whoever holds it, then look at what they recorded
        return HandlerRun.objects.select_for_update().get(event=event, handler=handler)
