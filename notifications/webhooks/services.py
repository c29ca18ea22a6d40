"""An admin's changes to webhooks: create an endpoint (its secret is returned once), change it, send it a test
event, redeliver a delivery. Each locks what it changes, validates (a clear ValidationError, nothing written),
writes, and records an audit entry with the reason (the secret redacted). Used by the admin and webhook_add."""

from __future__ import annotations

import enum
from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from core import crypto
from core.after_commit import send_after_commit
from notifications.audit import audit_record, reason_clean
from notifications.events import EVENTS
from notifications.services import Actor
from notifications.webhook_models import WebhookDelivery, WebhookEndpoint
from notifications.webhooks.destinations import DestinationRefused, destination_check, private_allowed
from notifications.webhooks.endpoints import endpoints_changed
from notifications.webhooks.lifecycle import endpoint_switch
from notifications.webhooks.signing import secret_new
from notifications.webhooks.tasks import deliver_deliveries

AUDITED_FIELDS = ("url", "description", "all_events", "events", "active")
SECRET_FIELDS = ("secret",)


@dataclass(frozen=True)
class EndpointCreated:
    endpoint: WebhookEndpoint
    secret: str  # shown to the admin this once; never rendered again


class Redelivery(enum.StrEnum):
    QUEUED = "queued"
    BEING_SENT = "being_sent"  # a sender holds it right now: nothing changed


def url_clean(url: str) -> str:
    url = (url or "").strip()
    try:
        # When private destinations are allowed (development, tests), only the URL's form is checked.
        destination_check(url, resolve=not private_allowed())
    except DestinationRefused as refused:
        raise ValidationError({"url": str(refused)}) from None
    if len(url) > 2000:
        raise ValidationError({"url": "The URL is longer than 2000 characters."})
    return url


def events_clean(events: list[str] | None, all_events: bool) -> list[str]:
    events = sorted(set(events or ()))
    unknown = [name for name in events if name not in EVENTS]
    if unknown:
        raise ValidationError({"events": f"Unknown event(s): {', '.join(unknown)}."})
    if all_events:
        return []
    if not events:
        raise ValidationError({"events": "Choose the events to send, or all events."})
    return events


def _snapshot(endpoint: WebhookEndpoint) -> dict:
    return {name: getattr(endpoint, name) for name in AUDITED_FIELDS}


def endpoint_create(
    *,
    url: str,
    events: list[str] | None = None,
    all_events: bool = False,
    description: str = "",
    active: bool = True,
    actor: Actor,
    reason: str,
) -> EndpointCreated:
    reason = reason_clean(reason)
    url = url_clean(url)
    events = events_clean(events, all_events)
    secret = secret_new()
    with transaction.atomic():
        endpoint = WebhookEndpoint.objects.create(
            url=url,
            events=events,
            all_events=all_events,
            description=(description or "").strip()[:200],
            active=active,
            disabled_reason="" if active else WebhookEndpoint.DisabledReason.ADMIN,
            secret_token=crypto.encrypt(secret),
        )
        audit_record(
            actor=actor,
            subject=endpoint,
            action="created",
            reason=reason,
            after={**_snapshot(endpoint), "secret": secret},
            secret_fields=SECRET_FIELDS,
        )
        endpoints_changed()
        transaction.on_commit(endpoints_changed)
    return EndpointCreated(endpoint=endpoint, secret=secret)


def endpoint_change(
    *,
    endpoint_id: int,
    url: str,
    events: list[str] | None,
    all_events: bool,
    description: str,
    active: bool,
    actor: Actor,
    reason: str,
) -> WebhookEndpoint:
    """Change an endpoint's settings (not its secret). Switching it on again clears why it was off."""
    reason = reason_clean(reason)
    changes = {
        "url": url_clean(url),
        "events": events_clean(events, all_events),
        "all_events": all_events,
        "description": (description or "").strip()[:200],
        "active": active,
    }
    with transaction.atomic():
        endpoint = WebhookEndpoint.objects.select_for_update().get(pk=endpoint_id)
        before, after = {}, {}
        for name, value in changes.items():
            if getattr(endpoint, name) != value:
                before[name], after[name] = getattr(endpoint, name), value
                setattr(endpoint, name, value)
        if not after:
            return endpoint
        if "active" in after:
            endpoint.disabled_reason = "" if active else WebhookEndpoint.DisabledReason.ADMIN
            endpoint.failing_since = None
        endpoint.updated_at = timezone.now()
        endpoint.save()
        audit_record(actor=actor, subject=endpoint, action="changed", reason=reason, before=before, after=after)
        endpoints_changed()
        transaction.on_commit(endpoints_changed)
    return endpoint


def endpoint_set_active(*, endpoint_id: int, active: bool, actor: Actor, reason: str) -> bool:
    """Switch an endpoint on or off. Returns whether anything changed."""
    reason = reason_clean(reason)
    why = "" if active else WebhookEndpoint.DisabledReason.ADMIN
    return endpoint_switch(endpoint_id=endpoint_id, active=active, why=why, actor=actor, reason=reason) is not None


def endpoint_test(
    *, endpoint_id: int, actor: Actor, reason: str = "Test event sent from the admin."
) -> WebhookDelivery:
    """Queue a test event (type WebhookTest, signed like any other) to one active endpoint."""
    reason = reason_clean(reason)
    with transaction.atomic():
        endpoint = WebhookEndpoint.objects.select_for_update().get(pk=endpoint_id)
        if not endpoint.active:
            raise ValidationError("The endpoint is disabled: switch it on before sending it a test event.")
        delivery = WebhookDelivery.objects.create(endpoint=endpoint, event=None, event_type="WebhookTest")
        audit_record(actor=actor, subject=endpoint, action="tested", reason=reason, after={"delivery": delivery.pk})
        send_after_commit(deliver_deliveries, [delivery.pk])
    return delivery


def delivery_redeliver(*, delivery_id: int, actor: Actor, reason: str = "Redelivered from the admin.") -> Redelivery:
    """Send a delivery again, with the same webhook-id, whatever became of it. Its attempt rows are kept; its
    retry count starts again, so the redelivery gets the whole retry schedule."""
    reason = reason_clean(reason)
    now = timezone.now()
    with transaction.atomic():
        delivery = WebhookDelivery.objects.select_for_update().select_related("endpoint").get(pk=delivery_id)
        if delivery.claimed_until is not None and delivery.claimed_until > now:
            return Redelivery.BEING_SENT
        if not delivery.endpoint.active:
            raise ValidationError("The endpoint is disabled: switch it on before redelivering to it.")
        before = {"status": delivery.status, "attempts": delivery.attempts}
        delivery.status = WebhookDelivery.Status.PENDING
        delivery.next_attempt_at = now
        delivery.finished_at = None
        delivery.attempts = 0
        delivery.save(update_fields=["status", "next_attempt_at", "finished_at", "attempts"])
        audit_record(
            actor=actor,
            subject=delivery.endpoint,
            action="redelivered",
            reason=reason,
            before={"delivery": delivery.pk, **before},
            after={"delivery": delivery.pk, "status": delivery.status},
        )
        send_after_commit(deliver_deliveries, [delivery.pk])
    return Redelivery.QUEUED
