"""Webhooks through a real Celery worker on Redis: the deliveries go out through the `webhooks` queue (routed to
this test's own queue), signed so that the standardwebhooks library verifies them."""

import time

import pytest
import standardwebhooks
from django.conf import settings
from django.db import transaction

from notifications.bus import emit, emit_many
from notifications.models import WebhookDelivery
from notifications.webhooks.services import endpoint_create
from tests.integration.worker_process import celery_worker, queue_for, routed_through_the_broker

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.django_db(transaction=True)]

WEBHOOKS_QUEUE = queue_for("webhooks")
DEFAULT_QUEUE = queue_for("default")


def test_the_settings_route_the_webhook_tasks_to_their_own_queue():
    webhook_tasks = [name for name in settings.CELERY_TASK_ROUTES if name.startswith("notifications.webhooks")]
    assert webhook_tasks
    assert {settings.CELERY_TASK_ROUTES[name]["queue"] for name in webhook_tasks} == {settings.WEBHOOKS_QUEUE}
    assert settings.WEBHOOKS_QUEUE == "webhooks"


@pytest.fixture
def webhooks_worker(tmp_path):
    # Only the webhooks queue is consumed: the events' dispatch tasks wait in the default one, untouched.
    routes = {name: {"queue": WEBHOOKS_QUEUE} for name in settings.CELERY_TASK_ROUTES if "webhooks" in name}
    # The worker's own tasks (a batch handed out in tasks of a hundred) go to this test's queue too.
    with (
        celery_worker([WEBHOOKS_QUEUE], tmp_path / "worker.log", env={"WEBHOOKS_QUEUE": WEBHOOKS_QUEUE}) as log,
        routed_through_the_broker({**routes, "*": {"queue": DEFAULT_QUEUE}}),
    ):
        yield log


def wait_until_delivered(count: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while WebhookDelivery.objects.filter(status="delivered").count() < count and time.monotonic() < deadline:
        time.sleep(0.1)


def test_a_real_worker_delivers_signed_events_through_the_webhooks_queue(webhooks_worker, receiver):
    created = endpoint_create(url=receiver.url, all_events=True, actor=None, reason="integration test")
    with transaction.atomic():
        emit("InvoicePaid", invoice_id=1)
    with transaction.atomic():
        emit_many("InvoiceCreated", [{"invoice_id": n} for n in range(10)])
    wait_until_delivered(11)
    log = webhooks_worker.read_text()
    assert WebhookDelivery.objects.filter(status="delivered").count() == 11, log
    assert "notifications.webhooks_deliver" in log
    assert "notifications.webhooks_deliver_range" in log
    requests = receiver.wait_for(11)
    assert len(requests) == 11  # each once
    verifier = standardwebhooks.Webhook(created.secret)
    types = sorted(verifier.verify(r.body, r.headers)["type"] for r in requests)
    assert types == ["InvoiceCreated"] * 10 + ["InvoicePaid"]
