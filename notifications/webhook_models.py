"""Outbound webhooks (Standard Webhooks): the endpoints admins configure, the outbox of deliveries an event writes
in its own transaction, and every attempt to send one. Imported by notifications.models; the code that fills and
sends them is in notifications/webhooks/."""

from django.db import models
from django.utils import timezone


class WebhookEndpoint(models.Model):
    """A receiver of signed POSTs. Changed only through notifications.webhooks.services (reason and audit)."""

    class DisabledReason(models.TextChoices):
        NONE = "", "-"
        ADMIN = "admin", "Switched off by an admin"
        GONE = "gone", "The receiver answered 410 Gone"
        FAILING = "failing", "Every delivery failed for too long"

    url = models.URLField(max_length=2000, help_text="Where the events are POSTed (http or https).")
    description = models.CharField(max_length=200, blank=True)
    all_events = models.BooleanField(default=False, help_text="Send every event in the catalog.")
    events = models.JSONField(default=list, blank=True, help_text="Event names sent, when not all events.")
    active = models.BooleanField(default=True)
    disabled_reason = models.CharField(max_length=16, choices=DisabledReason.choices, blank=True, default="")
    # whsec_ + base64 of random bytes (Standard Webhooks), encrypted at rest (core.crypto, MultiFernet). Shown
    # once, at creation; never rendered again.
    secret_token = models.TextField(editable=False)
    failing_since = models.DateTimeField(
        null=True, blank=True, help_text="The first failed attempt since the last delivered one."
    )
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["id"]
        verbose_name = "webhook endpoint"
        permissions = [("test_webhookendpoint", "Can send a test event to a webhook endpoint")]

    def __str__(self) -> str:
        return self.url

    def listens_to(self, event_name: str) -> bool:
        return self.all_events or event_name in self.events


class WebhookDelivery(models.Model):
    """One event for one endpoint: the outbox row. Its id makes the webhook-id, the same on every attempt."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"  # waiting for its next attempt (next_attempt_at)
        DELIVERED = "delivered", "Delivered"
        FAILED = "failed", "Failed"  # refused (4xx), out of retries, or its endpoint is disabled

    # NULL for a test event sent from the admin: it belongs to no event.
    event = models.ForeignKey("notifications.Event", null=True, on_delete=models.CASCADE, related_name="+")
    endpoint = models.ForeignKey(WebhookEndpoint, on_delete=models.CASCADE, related_name="deliveries")
    event_type = models.CharField(max_length=64)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(default=timezone.now)
    # A sender holds the delivery until then (its claim); one that died lets it go when the time passes.
    claimed_until = models.DateTimeField(null=True, blank=True)
    last_status_code = models.PositiveIntegerField(null=True, blank=True)
    last_error = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]
        verbose_name_plural = "webhook deliveries"
        constraints = [models.UniqueConstraint(fields=["event", "endpoint"], name="webhook_delivery_once_per_event")]
        indexes = [
            models.Index(fields=["next_attempt_at"], condition=models.Q(status="pending"), name="webhook_delivery_due"),
            models.Index(fields=["endpoint", "-id"], name="webhook_delivery_by_endpoint"),
        ]

    def __str__(self) -> str:
        return f"{self.webhook_id} {self.event_type} to {self.endpoint_id} ({self.status})"

    @property
    def webhook_id(self) -> str:
        return f"msg_{self.pk}"


class WebhookAttempt(models.Model):
    """One POST of a delivery: what the receiver answered, how fast, or what went wrong."""

    delivery = models.ForeignKey(WebhookDelivery, on_delete=models.CASCADE, related_name="attempt_rows")
    attempted_at = models.DateTimeField(default=timezone.now)
    status_code = models.PositiveIntegerField(null=True, blank=True)
    latency_ms = models.PositiveIntegerField(default=0)
    response_excerpt = models.CharField(max_length=1000, blank=True)
    error = models.CharField(max_length=500, blank=True)
    # What was sent with it (the webhook-id is the delivery's): a receiver's log can be matched against these.
    webhook_timestamp = models.BigIntegerField(null=True, blank=True)
    signature = models.CharField(max_length=100, blank=True)
    outcome = models.CharField(max_length=16, help_text="delivered, retry, failed, gone")

    class Meta:
        ordering = ["-id"]
        indexes = [models.Index(fields=["delivery", "-id"], name="webhook_attempt_by_delivery")]

    def __str__(self) -> str:
        return f"attempt on {self.delivery_id}: {self.status_code or self.error}"
