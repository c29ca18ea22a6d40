"""The webhook tasks, all on the `webhooks` queue (CELERY_TASK_ROUTES): they take ids, and deliver() re-reads and
claims each delivery, so a duplicate task or a sweep racing a task sends nothing twice."""

from __future__ import annotations

import datetime

from celery import shared_task
from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from notifications.webhook_models import WebhookDelivery
from notifications.webhooks.delivery import Outcome, deliver

BATCH = 100  # deliveries per task: a bulk emit's range is fanned out in tasks of this many
# A retry due within this many seconds gets a task with a countdown; later ones wait for the sweep. Only the first
# retry (5 s) is that soon (the second waits 5 min - 10 %, a Retry-After only makes waits longer), so a retry with
# attempts >= 2 never has a task of its own, and the sweep hands it out as soon as it is due.
SOON = 60
OWN_TASK_UP_TO_ATTEMPTS = 1
SWEEP_LIMIT = 20_000  # deliveries handed out per sweep (it runs every minute)


def _due(queryset):
    now = timezone.now()
    return queryset.filter(
        Q(claimed_until__isnull=True) | Q(claimed_until__lt=now),
        status=WebhookDelivery.Status.PENDING,
        next_attempt_at__lte=now,
    )


def _hand_out(ids: list[int]) -> None:
    for start in range(0, len(ids), BATCH):
        deliver_deliveries.delay(ids[start : start + BATCH])


@shared_task(name="notifications.webhooks_deliver")
def deliver_deliveries(delivery_ids: list[int]) -> None:
    for delivery_id in sorted(delivery_ids):
        sent = deliver(delivery_id)
        if sent.outcome == Outcome.RETRY and sent.retry_in is not None and sent.retry_in <= SOON:
            deliver_deliveries.apply_async(([delivery_id],), countdown=sent.retry_in)


@shared_task(name="notifications.webhooks_deliver_range")
def deliver_range(first_id: int, last_id: int) -> None:
    """A bulk emit's deliveries (ids first_id..last_id), handed out BATCH at a time."""
    _hand_out(
        list(
            _due(WebhookDelivery.objects.filter(pk__range=(first_id, last_id)))
            .order_by("pk")
            .values_list("pk", flat=True)
        )
    )


def _sweepable(queryset, now: datetime.datetime):
    """Due and held by nobody, and with no task of its own on the way: a retry that got no task (attempts past
    OWN_TASK_UP_TO_ATTEMPTS) as soon as it is due; a first attempt or a first retry, whose task may still be waiting
    in the queue, only once it has been due for WEBHOOKS_SWEEP_AFTER (its task was lost, or the workers are behind:
    handing it out each minute would fill the queue with duplicates)."""
    cutoff = now - settings.WEBHOOKS_SWEEP_AFTER
    return _due(queryset).filter(Q(attempts__gt=OWN_TASK_UP_TO_ATTEMPTS) | Q(next_attempt_at__lte=cutoff))


def deliveries_due_count() -> int:
    """How many deliveries the sweep would hand out now (the automation run's dry run)."""
    return _sweepable(WebhookDelivery.objects.all(), timezone.now()).count()


def sweep_due(limit: int = SWEEP_LIMIT) -> int:
    """Hand out the deliveries that are due and held by nobody (see _sweepable): retries whose time has come, and
    deliveries whose task was lost (Redis down at commit, a worker gone). Returns how many were handed out."""
    now = timezone.now()
    ids = list(
        _sweepable(WebhookDelivery.objects.all(), now).order_by("next_attempt_at").values_list("pk", flat=True)[:limit]
    )
    _hand_out(ids)
    return len(ids)


@shared_task(name="notifications.webhooks_sweep")
def sweep() -> int:
    return sweep_due()
