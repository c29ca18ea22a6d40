"""The automation run's API step: answers kept for Idempotency-Key are forgotten once their 24 hours are over
(api.idempotency), so the table holds a day of POSTs, not all of them."""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from api.idempotency import KEPT_FOR
from api.models import IdempotentRequest
from automation.registry import StepContext, automation_step

BATCH_SIZE = 5000


@automation_step(
    "api_idempotency_cleanup",
    order=190,
    description="Forget the API's Idempotency-Key answers older than 24 hours.",
)
def forget_idempotency_keys(context: StepContext) -> None:
    cutoff = timezone.now() - KEPT_FOR
    ids = list(IdempotentRequest.objects.filter(created_at__lt=cutoff).order_by("pk").values_list("pk", flat=True))
    if context.dry_run:
        if ids:
            context.say(f"{len(ids)} Idempotency-Key answers would be forgotten")
        return

    def forget(batch: list[int]) -> int:
        with transaction.atomic():
            # Re-checked in the statement: a key taken over meanwhile (a new request under it) is kept.
            return IdempotentRequest.objects.filter(pk__in=batch, created_at__lt=cutoff).delete()[0]

    for _batch, forgotten in context.each_batch(ids, BATCH_SIZE, forget):
        context.count("idempotency keys forgotten", forgotten)
