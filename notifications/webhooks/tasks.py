"""The webhook tasks, all on the `webhooks` queue (CELERY_TASK_ROUTES): they take ids, and deliver() re-reads and
claims each delivery, so a duplicate task or a sweep racing a task sends nothing twice."""

from __future__ import annotations

from celery import shared_task
from django.db.models import Q
from django.utils import timezone

from notifications.webhook_models import WebhookDelivery
from notifications.webhooks.delivery import Outcome, deliver

BATCH = 100  # deliveries per task: a bulk emit's range is fanned out in tasks of this many
SOON = 5 * 60  # a retry due within this many seconds gets a task with a countdown; later ones wait for the sweep
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


def deliveries_due_count() -> int:
    return _due(WebhookDelivery.objects.all()).count()


def sweep_due(limit: int = SWEEP_LIMIT) -> int:
    """Hand out the deliveries that are due and held by nobody: retries whose time has come, and deliveries whose
    task was lost (Redis down at commit, a worker gone). Returns how many were handed out."""
    ids = list(_due(WebhookDelivery.objects.all()).order_by("next_attempt_at").values_list("pk", flat=True)[:limit])
    _hand_out(ids)
    return len(ids)


@shared_task(name="notifications.webhooks_sweep")
def sweep() -> int:
    return sweep_due()
