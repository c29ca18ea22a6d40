"""Sending one delivery: claim it, sign it, POST it, record the attempt, and decide what comes next.

- 2xx: delivered. 410: the endpoint is gone, it is disabled and the delivery fails.
- 429, 5xx, a timeout, a connection error or an answer over the size limit: retried on the Standard Webhooks
  schedule (5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h after the failed attempts, each +-10 % jitter), never sooner
  than a Retry-After asks; after the last one it fails.
- Any other answer (a 4xx, an unfollowed redirect): it fails at once.

The claim is one conditional UPDATE that sets `claimed_until`: a second worker (a duplicate task, the sweep)
finds nothing to claim until that time has passed, so a delivery is never sent twice at once, and one whose
sender died goes out again once its claim runs out. The POST happens outside any transaction."""

from __future__ import annotations

import datetime
import email.utils
import enum
import json
import random
import time
from dataclasses import dataclass

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone

from core import crypto
from notifications.webhook_models import WebhookAttempt, WebhookDelivery, WebhookEndpoint
from notifications.webhooks.destinations import DestinationRefused, DestinationUnresolved, destination_check
from notifications.webhooks.lifecycle import endpoint_disable_by_system
from notifications.webhooks.sender import Answer, post
from notifications.webhooks.signing import signature

# Seconds to wait after the 1st, 2nd, ... failed attempt (the spec's schedule); one attempt plus seven retries.
RETRY_DELAYS = (5, 5 * 60, 30 * 60, 2 * 3600, 5 * 3600, 10 * 3600, 10 * 3600)
JITTER = 0.1
LONGEST_RETRY_AFTER = 24 * 3600
TEST_EVENT = "WebhookTest"


class Outcome(enum.StrEnum):
    NOT_DUE = "not_due"  # delivered, failed, claimed by another sender, or its next attempt is later
    DELIVERED = "delivered"
    RETRY = "retry"
    FAILED = "failed"
    GONE = "gone"


def claim_seconds() -> float:
    """How long a sender holds a delivery: longer than any POST can take (the sender cuts the whole exchange off at
    WEBHOOKS_DEADLINE), with the connect timeout and 30 s more for the database work around it."""
    return (
        float(getattr(settings, "WEBHOOKS_DEADLINE", 15)) + float(getattr(settings, "WEBHOOKS_CONNECT_TIMEOUT", 5)) + 30
    )


def payload(delivery: WebhookDelivery) -> dict:
    """The spec's payload shape: the event type, when it happened, and its data."""
    if delivery.event_id is None:
        return {
            "type": TEST_EVENT,
            "timestamp": delivery.created_at.isoformat(),
            "data": {"endpoint_id": delivery.endpoint_id, "test": True},
        }
    event = delivery.event
    return {"type": event.name, "timestamp": event.created_at.isoformat(), "data": event.payload}


def body_of(delivery: WebhookDelivery) -> bytes:
    return json.dumps(payload(delivery), cls=DjangoJSONEncoder, separators=(",", ":")).encode()


def headers_for(delivery: WebhookDelivery, body: bytes, *, timestamp: int | None = None) -> dict[str, str]:
    timestamp = int(time.time()) if timestamp is None else timestamp
    return {
        "Content-Type": "application/json",
        "User-Agent": "hostbill-portal-webhooks/1",
        "webhook-id": delivery.webhook_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": signature(
            secret=crypto.decrypt(delivery.endpoint.secret_token),
            webhook_id=delivery.webhook_id,
            timestamp=timestamp,
            body=body,
        ),
    }


def retry_after_seconds(value: str | None, now: datetime.datetime) -> float:
    """Retry-After as seconds (a number of seconds or an HTTP date); 0 when absent or unreadable."""
    if not value:
        return 0.0
    value = value.strip()
    if value.isdigit():
        return min(float(value), LONGEST_RETRY_AFTER)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return 0.0
    if when.tzinfo is None:
        when = when.replace(tzinfo=datetime.UTC)
    return min(max(0.0, (when - now).total_seconds()), LONGEST_RETRY_AFTER)


def next_delay(attempts: int, answer: Answer, now: datetime.datetime) -> float | None:
    """Seconds until the next attempt after `attempts` failed ones, or None when the retries are used up."""
    if attempts > len(RETRY_DELAYS):
        return None
    scheduled = RETRY_DELAYS[attempts - 1] * random.uniform(1 - JITTER, 1 + JITTER)
    return max(scheduled, retry_after_seconds(answer.retry_after, now))


def classify(answer: Answer) -> Outcome:
    code = answer.status_code
    if code is None or code == 429 or code >= 500:
        return Outcome.RETRY
    if 200 <= code < 300:
        return Outcome.DELIVERED
    if code == 410:
        return Outcome.GONE
    return Outcome.FAILED


def _claim(delivery_id: int, now: datetime.datetime) -> datetime.datetime | None:
    until = now + datetime.timedelta(seconds=claim_seconds())
    claimed = WebhookDelivery.objects.filter(
        Q(claimed_until__isnull=True) | Q(claimed_until__lt=now),
        pk=delivery_id,
        status=WebhookDelivery.Status.PENDING,
        next_attempt_at__lte=now,
    ).update(claimed_until=until)
    return until if claimed else None


@dataclass(frozen=True)
class Sent:
    outcome: Outcome
    retry_in: float | None = None  # seconds, when outcome is RETRY


def deliver(delivery_id: int) -> Sent:
    """Send one delivery if it is due and nobody else is sending it."""
    now = timezone.now()
    claim = _claim(delivery_id, now)
    if claim is None:
        return Sent(Outcome.NOT_DUE)
    delivery = WebhookDelivery.objects.select_related("endpoint", "event").get(pk=delivery_id)
    endpoint = delivery.endpoint
    if not endpoint.active:
        return _finish(delivery, claim, Outcome.FAILED, Answer(None, 0, error="the endpoint is disabled"), record=False)
    try:
        destination = destination_check(endpoint.url)
    except DestinationUnresolved as unresolved:  # DNS may be down for a moment: retried like a connection error
        return _finish(delivery, claim, Outcome.RETRY, Answer(None, 0, error=str(unresolved)[:500]))
    except DestinationRefused as refused:
        return _finish(delivery, claim, Outcome.FAILED, Answer(None, 0, error=str(refused)[:500]))
    body = body_of(delivery)
    headers = headers_for(delivery, body)
    answer = post(destination, body, headers)
    return _finish(delivery, claim, classify(answer), answer, sent_headers=headers)


def _finish(
    delivery: WebhookDelivery,
    claim: datetime.datetime,
    outcome: Outcome,
    answer: Answer,
    *,
    record: bool = True,
    sent_headers: dict[str, str] | None = None,
) -> Sent:
    now = timezone.now()
    attempts = delivery.attempts + (1 if record else 0)
    delay = next_delay(attempts, answer, now) if outcome == Outcome.RETRY else None
    if outcome == Outcome.RETRY and delay is None:
        outcome = Outcome.FAILED  # out of retries
    changes = {
        "attempts": attempts,
        "claimed_until": None,
        "last_status_code": answer.status_code,
        "last_error": answer.error[:500],
    }
    if outcome == Outcome.RETRY:
        changes["next_attempt_at"] = now + datetime.timedelta(seconds=delay)
    else:
        changes["status"] = (
            WebhookDelivery.Status.DELIVERED if outcome == Outcome.DELIVERED else WebhookDelivery.Status.FAILED
        )
        changes["finished_at"] = now
    with transaction.atomic():
        if connection.vendor == "postgresql":
            # Not waiting for the disk at commit: a record lost in a crash leaves the delivery claimed until its
            # claim runs out, and it is sent again (at least once, as the spec has it; receivers dedupe on
            # webhook-id). The claim itself is committed durably.
            with connection.cursor() as cursor:
                cursor.execute("SET LOCAL synchronous_commit TO OFF")
        if record:
            WebhookAttempt.objects.create(
                delivery_id=delivery.pk,
                attempted_at=now,
                status_code=answer.status_code,
                latency_ms=answer.latency_ms,
                response_excerpt=answer.excerpt,
                error=answer.error[:500],
                outcome=str(outcome),
                webhook_timestamp=int(sent_headers["webhook-timestamp"]) if sent_headers else None,
                signature=sent_headers["webhook-signature"] if sent_headers else "",
            )
        # Only the holder of the claim moves the delivery on; a sender whose claim ran out only leaves its attempt.
        WebhookDelivery.objects.filter(pk=delivery.pk, claimed_until=claim).update(**changes)
        if record:
            _endpoint_health(delivery.endpoint, outcome, now)
    if outcome == Outcome.GONE:
        endpoint_disable_by_system(endpoint_id=delivery.endpoint_id, why=WebhookEndpoint.DisabledReason.GONE)
    elif outcome in (Outcome.RETRY, Outcome.FAILED) and record and _failing_too_long(delivery.endpoint_id, now):
        endpoint_disable_by_system(endpoint_id=delivery.endpoint_id, why=WebhookEndpoint.DisabledReason.FAILING)
    return Sent(outcome, delay)


def _endpoint_health(endpoint: WebhookEndpoint, outcome: Outcome, now: datetime.datetime) -> None:
    endpoints = WebhookEndpoint.objects.filter(pk=endpoint.pk)
    if outcome == Outcome.DELIVERED:
        # Always asked of the database, not of the endpoint as read before the POST: a failure of another delivery
        # may have set failing_since meanwhile, and left set it would disable a healthy endpoint days later.
        endpoints.filter(failing_since__isnull=False).update(failing_since=None)
    elif outcome in (Outcome.RETRY, Outcome.FAILED):
        endpoints.filter(failing_since__isnull=True).update(failing_since=now)


def _failing_too_long(endpoint_id: int, now: datetime.datetime) -> bool:
    days = float(getattr(settings, "WEBHOOKS_DISABLE_AFTER_DAYS", 5))
    return WebhookEndpoint.objects.filter(
        pk=endpoint_id, active=True, failing_since__lte=now - datetime.timedelta(days=days)
    ).exists()
