"""The outbox: an event writes one delivery per subscribed active endpoint in the transaction that emits it, and
asks for sending after commit. The bus calls these (notifications.bus: emit, emit_many, emit_select); nothing is
written and no query is asked beyond the endpoints' lookup (once per transaction) when nobody subscribes.

A bulk emit writes its deliveries in one statement (INSERT ... SELECT over the new event ids crossed with the
endpoint ids) and sends one task for the lot, which hands them out to tasks of a hundred."""

from __future__ import annotations

from django.db import connection

from core.after_commit import send_after_commit
from notifications.models import Event
from notifications.webhook_models import WebhookDelivery
from notifications.webhooks.endpoints import endpoint_ids_for
from notifications.webhooks.tasks import deliver_deliveries, deliver_range

__all__ = ["endpoint_ids_for", "outbox_write", "outbox_write_many"]


def outbox_write(event: Event) -> None:
    """emit(): the deliveries of one event."""
    endpoint_ids = endpoint_ids_for(event.name)
    if not endpoint_ids:
        return
    created = WebhookDelivery.objects.bulk_create(
        [
            WebhookDelivery(
                event=event,
                endpoint_id=endpoint_id,
                event_type=event.name,
                created_at=event.created_at,
                next_attempt_at=event.created_at,
            )
            for endpoint_id in endpoint_ids
        ]
    )
    send_after_commit(deliver_deliveries, [delivery.pk for delivery in created])


def outbox_write_many(event_name: str, event_ids: list[int], endpoint_ids: list[int]) -> int:
    """emit_many / emit_select: the deliveries of many events of one name to `endpoint_ids` (endpoint_ids_for,
    asked before the events were written), in one statement. Returns how many were written."""
    if not event_ids or not endpoint_ids:
        return 0
    if connection.vendor != "postgresql":
        created = WebhookDelivery.objects.bulk_create(
            [
                WebhookDelivery(event_id=event_id, endpoint_id=endpoint_id, event_type=event_name)
                for event_id in event_ids
                for endpoint_id in endpoint_ids
            ]
        )
        ids = [delivery.pk for delivery in created]
        first, last, written = min(ids), max(ids), len(ids)
    else:
        table = connection.ops.quote_name(WebhookDelivery._meta.db_table)
        with connection.cursor() as cursor:
            cursor.execute(
                f"WITH written AS ("
                f" INSERT INTO {table} (event_id, endpoint_id, event_type, status, attempts, next_attempt_at,"
                f" last_error, created_at)"
                f" SELECT e.id, ep.id, %s, %s, 0, now(), '', now()"
                f" FROM unnest(%s::bigint[]) AS e(id) CROSS JOIN unnest(%s::bigint[]) AS ep(id)"
                f" ORDER BY e.id, ep.id RETURNING id)"
                f" SELECT min(id), max(id), count(*) FROM written",
                [event_name, WebhookDelivery.Status.PENDING, list(event_ids), list(endpoint_ids)],
            )
            first, last, written = cursor.fetchone()
    send_after_commit(deliver_range, first, last)
    return written
