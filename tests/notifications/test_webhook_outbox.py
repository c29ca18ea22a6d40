"""The outbox of a bulk emit (the automation run's batches): emit_many and emit_select write one delivery per
event and subscribed endpoint in a bounded number of queries, and send one task for the lot."""

import pytest
from django.db import transaction
from django.db.models import F

from notifications.bus import emit_many, emit_select
from notifications.models import Event, WebhookDelivery
from notifications.webhooks.services import endpoint_create

pytestmark = pytest.mark.django_db
# The query counts are PostgreSQL's (COPY, INSERT ... SELECT); elsewhere the writes fall back to bulk_create.
postgres_only = pytest.mark.postgres

EVENTS_WRITTEN = 500


def webhook_tasks(callbacks) -> list[str]:
    names = [getattr(callback, "task_name", None) or callback.func.__self__.name for callback in callbacks]
    return [name for name in names if name.startswith("notifications.webhooks")]


def endpoints(n, events=("InvoicePaid",)):
    return [
        endpoint_create(
            url=f"http://127.0.0.1:1/hook{i}", events=list(events), actor=None, reason="bulk outbox test"
        ).endpoint
        for i in range(n)
    ]


@postgres_only
def test_emit_many_writes_every_delivery_in_a_bounded_number_of_queries(
    django_assert_max_num_queries, django_capture_on_commit_callbacks
):
    subscribed = endpoints(3)
    endpoints(1, events=("OrderCreated",))
    # The endpoints, the event ids, the COPY, the deliveries' INSERT ... SELECT.
    with django_capture_on_commit_callbacks() as callbacks, transaction.atomic(), django_assert_max_num_queries(4):
        ids = emit_many("InvoicePaid", [{"invoice_id": n} for n in range(EVENTS_WRITTEN)])
    assert len(ids) == EVENTS_WRITTEN
    assert WebhookDelivery.objects.count() == EVENTS_WRITTEN * 3
    assert set(WebhookDelivery.objects.values_list("endpoint_id", flat=True)) == {e.pk for e in subscribed}
    assert webhook_tasks(callbacks) == ["notifications.webhooks_deliver_range"]  # one for the batch, not per delivery
    assert WebhookDelivery.objects.filter(event_type="InvoicePaid", status="pending").count() == EVENTS_WRITTEN * 3


@postgres_only
def test_emit_many_with_more_events_asks_no_more_queries(django_assert_max_num_queries):
    endpoints(3)
    with transaction.atomic(), django_assert_max_num_queries(4):
        emit_many("InvoicePaid", [{"invoice_id": n} for n in range(EVENTS_WRITTEN * 4)])
    assert WebhookDelivery.objects.count() == EVENTS_WRITTEN * 4 * 3


@postgres_only
def test_emit_select_writes_every_delivery_in_a_bounded_number_of_queries(
    django_assert_max_num_queries, django_capture_on_commit_callbacks
):
    endpoints(3)
    rows = [Event(name="OrderCreated", payload={"n": n}) for n in range(EVENTS_WRITTEN)]
    Event.objects.bulk_create(rows)
    # The endpoints, the events' INSERT ... SELECT, the deliveries' INSERT ... SELECT.
    with django_capture_on_commit_callbacks() as callbacks, transaction.atomic(), django_assert_max_num_queries(3):
        written = emit_select("InvoicePaid", Event.objects.filter(name="OrderCreated"), {"invoice_id": F("pk")})
    assert written == EVENTS_WRITTEN
    assert WebhookDelivery.objects.count() == EVENTS_WRITTEN * 3
    assert webhook_tasks(callbacks) == ["notifications.webhooks_deliver_range"]
    assert WebhookDelivery.objects.filter(event__name="InvoicePaid").count() == EVENTS_WRITTEN * 3


@postgres_only
def test_a_bulk_emit_nobody_subscribes_to_writes_no_delivery(django_assert_max_num_queries):
    endpoints(2, events=("OrderCreated",))
    # As before (the events' ids and COPY), and the endpoints read once.
    with transaction.atomic(), django_assert_max_num_queries(3):
        emit_many("InvoicePaid", [{"invoice_id": n} for n in range(EVENTS_WRITTEN)])
    assert not WebhookDelivery.objects.exists()


def test_the_bulk_deliveries_are_sent_by_the_batch_task(receiver, django_capture_on_commit_callbacks):
    endpoint_create(url=receiver.url, events=["InvoicePaid"], actor=None, reason="bulk send test")
    with django_capture_on_commit_callbacks(execute=True):
        emit_many("InvoicePaid", [{"invoice_id": n} for n in range(5)])
    requests = receiver.wait_for(5)
    assert sorted(r.headers["webhook-id"] for r in requests) == sorted(
        d.webhook_id for d in WebhookDelivery.objects.all()
    )
    assert set(WebhookDelivery.objects.values_list("status", flat=True)) == {"delivered"}
