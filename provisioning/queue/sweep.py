"""Hands out module calls whose task was lost or whose retry is due (Celery beat every minute, and a step of the
automation run): queued calls older than a minute (the broker was down at commit), retries that are due, and
calls left Running by a dead worker (their lock is free: the runner takes them over)."""

from __future__ import annotations

import datetime
from dataclasses import dataclass

from django.db.models import Q
from django.utils import timezone

from provisioning.models import ModuleCall
from provisioning.queue.requests import send_calls

# A call queued or started this long ago and still not finished is presumed lost.
LOST_AFTER = datetime.timedelta(minutes=1)
SWEEP_BATCH = 1000


@dataclass(frozen=True)
class Swept:
    sent: int


def module_calls_sweep(*, now: datetime.datetime | None = None, lost_after: datetime.timedelta = LOST_AFTER) -> Swept:
    """Send a task for each call that needs one, in id batches (bounded queries). A call still held by a live
    worker is skipped by the runner (its advisory lock), so sending it again is harmless."""
    now = now or timezone.now()
    before = now - lost_after
    due = (
        Q(status=ModuleCall.Status.QUEUED, created_at__lt=before)
        | Q(status=ModuleCall.Status.RETRYING, next_attempt_at__lte=now)
        | Q(status=ModuleCall.Status.RUNNING, started_at__lt=before)
    )
    sent, after = 0, 0
    while True:
        ids = list(
            ModuleCall.objects.filter(due, pk__gt=after).order_by("pk").values_list("pk", flat=True)[:SWEEP_BATCH]
        )
        if not ids:
            return Swept(sent)
        send_calls(ids)
        sent += len(ids)
        after = ids[-1]
