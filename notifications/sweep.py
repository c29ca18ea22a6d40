"""The sweep: nothing emitted is lost. It dispatches events still undispatched some minutes after they were written
(their dispatch task never ran: the broker was down at commit, or the worker died) and the handler runs whose
retry is due. Celery beat runs it every minute (notifications.bus_sweep, seeded by migration 0008) and the
automation run runs it as a step, for installs without beat (automation.steps).

It reads ids a batch at a time by keyset (id after the last one), so a run that stays due (its handler was
removed) cannot hold it in a loop, and its own queries are a few per batch, never one per event."""

from __future__ import annotations

import datetime
from dataclasses import dataclass

from django.conf import settings
from django.utils import timezone

from notifications.dispatch import dispatch_many
from notifications.models import Event, HandlerRun

SWEEP_BATCH = 500


@dataclass(frozen=True)
class SweepOutcome:
    events_dispatched: int  # events left undispatched that were dispatched now
    retries_due: int  # events with a handler run whose retry was due


def stale_events(*, now: datetime.datetime | None = None) -> int:
    """How many events wait for the sweep (for a dry run to say)."""
    cutoff = (now or timezone.now()) - settings.PORTAL_BUS_SWEEP_AFTER
    return Event.objects.filter(dispatched_at__isnull=True, created_at__lt=cutoff).count()


def bus_sweep(*, now: datetime.datetime | None = None, older_than: datetime.timedelta | None = None) -> SweepOutcome:
    """Dispatch what was left: events undispatched for longer than `older_than` (PORTAL_BUS_SWEEP_AFTER_MINUTES)
    and events whose failed handler runs are due again, a batch at a time."""
    now = now or timezone.now()
    cutoff = now - (settings.PORTAL_BUS_SWEEP_AFTER if older_than is None else older_than)
    dispatched = _in_batches(
        Event.objects.filter(dispatched_at__isnull=True, created_at__lt=cutoff).order_by("pk"), key="pk"
    )
    retried = _in_batches(
        HandlerRun.objects.filter(status=HandlerRun.Status.FAILED, next_attempt_at__lte=now).order_by("pk"),
        key="event_id",
    )
    return SweepOutcome(events_dispatched=dispatched, retries_due=retried)


def _in_batches(queryset, *, key: str) -> int:
    done, after = 0, 0
    while True:
        rows = list(queryset.filter(pk__gt=after).values_list("pk", key)[:SWEEP_BATCH])
        if not rows:
            return done
        after = rows[-1][0]
        event_ids = sorted({event_id for _, event_id in rows})
        dispatch_many(event_ids)
        done += len(event_ids)
