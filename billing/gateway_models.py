"""The payment gateways' rows: each gateway's configuration, and the callbacks gateways sent us. Billing models
like those in billing.models (which imports them, so Django registers them there); apart so that file stays one a
reader can hold."""

from django.db import models
from django.utils import timezone


class GatewayConfig(models.Model):
    """A payment gateway as the admin enabled and configured it. The code names an implementation in
    billing.gateways; settings hold its keys (e.g. Stripe's secret and webhook signing secret)."""

    code = models.CharField(max_length=32, unique=True)
    display_name = models.CharField(max_length=100)
    enabled = models.BooleanField(default=False)
    sort_order = models.PositiveSmallIntegerField(default=0)
    settings = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["sort_order", "display_name"]

    def __str__(self) -> str:
        return self.display_name


class GatewayEvent(models.Model):
    """A callback or webhook a gateway sent us, stored once per (gateway, event id) before it is applied in a
    task. A replayed event finds its row and changes nothing."""

    class Status(models.TextChoices):
        RECEIVED = "received", "Received"
        APPLIED = "applied", "Applied"
        IGNORED = "ignored", "Ignored"
        FAILED = "failed", "Failed"

    gateway = models.CharField(max_length=32)
    event_id = models.CharField(max_length=200)
    event_type = models.CharField(max_length=100)
    payload = models.JSONField()
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.RECEIVED)
    error = models.TextField(blank=True)
    attempts = models.PositiveIntegerField(default=0)
    received_at = models.DateTimeField(default=timezone.now)
    processed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-received_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["gateway", "event_id"], name="billing_gateway_event_once"),
        ]
        indexes = [models.Index(fields=["status", "-id"], name="billing_gwevent_status")]

    def __str__(self) -> str:
        return f"{self.gateway} {self.event_type} {self.event_id}"
