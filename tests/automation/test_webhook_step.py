"""The automation run hands out the webhook deliveries that are due, for installs without Celery beat."""

import datetime

import pytest
from django.utils import timezone

from automation.registry import StepContext
from automation.steps import hand_out_webhook_deliveries
from notifications.bus import emit
from notifications.models import WebhookDelivery
from notifications.webhooks.services import endpoint_create

pytestmark = pytest.mark.django_db


def context(dry_run=False):
    return StepContext(step="webhook_deliveries_due", today=datetime.date(2026, 12, 3), dry_run=dry_run)


def test_the_run_sends_a_delivery_whose_task_was_lost(receiver):
    endpoint_create(url=receiver.url, all_events=True, actor=None, reason="step test")
    emit("InvoicePaid", invoice_id=1)  # its on-commit task never runs here: as if Redis was down at commit
    WebhookDelivery.objects.update(next_attempt_at=timezone.now() - datetime.timedelta(minutes=3))  # past the grace
    dry = context(dry_run=True)
    hand_out_webhook_deliveries(dry)
    assert dry.plan == ["1 webhook deliveries would be handed out"] and receiver.requests == []
    ran = context()
    hand_out_webhook_deliveries(ran)
    assert ran.counts["webhook deliveries handed out"] == 1
    assert WebhookDelivery.objects.get().status == WebhookDelivery.Status.DELIVERED
    assert len(receiver.requests) == 1
