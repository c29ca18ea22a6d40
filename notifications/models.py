from django.conf import settings
from django.db import models
from django.utils import timezone

from notifications.email_models import EmailTemplate  # noqa: F401 - notifications' models, kept apart
from notifications.hook_models import HookSwitch  # noqa: F401 - registered with the app here
from notifications.webhook_models import WebhookAttempt, WebhookDelivery, WebhookEndpoint  # noqa: F401 - kept apart


class Event(models.Model):
    """One emitted event: the outbox row, written in the same transaction as the change it reports."""

    # Indexed in Meta: db_index on a CharField adds a second, LIKE-prefix index on PostgreSQL that nothing uses,
    # and every event written pays for each index.
    name = models.CharField(max_length=64)
    payload = models.JSONField(default=dict)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    dispatched_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]
        indexes = [
            models.Index(
                fields=["dispatched_at"], condition=models.Q(dispatched_at__isnull=True), name="event_undispatched"
            ),
            models.Index(fields=["name"], name="event_name"),
        ]

    def __str__(self) -> str:
        return f"{self.name} #{self.pk}"


class HandlerRun(models.Model):
    """One handler's reaction to one event. The unique pair makes a reaction happen once per event."""

    class Status(models.TextChoices):
        RUNNING = "running", "Running"  # only ever seen inside the claiming transaction
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"

    event = models.ForeignKey(Event, on_delete=models.CASCADE, related_name="handler_runs")
    handler = models.CharField(max_length=200)
    status = models.CharField(max_length=16, choices=Status.choices)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # A failed run is tried again from this time (the sweep runs it); empty on a failed run: it gave up, and waits
    # for an admin's retry.
    next_attempt_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["event", "handler"], name="handler_run_once_per_event")]
        indexes = [
            models.Index(
                fields=["next_attempt_at"],
                condition=models.Q(status="failed", next_attempt_at__isnull=False),
                name="handler_run_retry_due",
            )
        ]

    def __str__(self) -> str:
        return f"{self.handler} on {self.event_id}: {self.status}"

    @property
    def gave_up(self) -> bool:
        return self.status == self.Status.FAILED and self.next_attempt_at is None


class ActivityLog(models.Model):
    """Who did what to which object. The subject is named, not linked, so the log outlives what it names."""

    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    actor_label = models.CharField(max_length=150, help_text="The actor's name at the time, or 'system'.")
    action = models.CharField(max_length=64)
    subject_type = models.CharField(max_length=64)
    subject_id = models.BigIntegerField(null=True, blank=True)
    client_id = models.BigIntegerField(null=True, blank=True, db_index=True)
    message = models.TextField()

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["subject_type", "subject_id"])]
        verbose_name_plural = "activity log"

    def __str__(self) -> str:
        return f"{self.created_at:%Y-%m-%d %H:%M} {self.actor_label}: {self.message}"


class OutboundEmail(models.Model):
    """An email the portal has decided to send, queued in the transaction of the change it reports and sent after
    commit by notifications.emails.sending (queued -> sending -> sent, or back to queued to retry, or failed).
    Once sent it keeps what was sent: the client's email history."""

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        SENDING = "sending", "Sending"  # claimed by one worker (claimed_at); the sweep frees a stale claim
        SENT = "sent", "Sent"
        FAILED = "failed", "Failed"
        SKIPPED = "skipped", "Skipped (template switched off)"

    template = models.CharField(max_length=64)
    to_address = models.EmailField()
    context = models.JSONField(default=dict)
    # What to attach, by reference: [{"kind": "invoice_pdf", "invoice_id": 7}], rendered when sent by the
    # renderer an app registered for the kind (notifications.emails.attachments).
    attachments = models.JSONField(default=list, blank=True)
    client_id = models.BigIntegerField(null=True, blank=True, db_index=True)
    # Unique through Meta's constraint: unique=True adds a LIKE-prefix twin of the index on PostgreSQL.
    idempotency_key = models.CharField(max_length=200)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED)
    created_at = models.DateTimeField(default=timezone.now)
    attempts = models.PositiveSmallIntegerField(default=0)
    last_error = models.TextField(blank=True)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    claimed_at = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    # Set at the first attempt and kept for every retry, so a receiver can tell a resend of one email.
    message_id = models.CharField(max_length=250, blank=True)
    subject = models.CharField(max_length=250, blank=True)
    body_text = models.TextField(blank=True)
    body_html = models.TextField(blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [models.UniqueConstraint(fields=["idempotency_key"], name="outboundemail_idempotency_key")]
        indexes = [
            # The sweep reads the emails still to send; sent ones (nearly all) are not in the index.
            models.Index(
                fields=["status", "next_attempt_at"],
                condition=models.Q(status__in=["queued", "sending"]),
                name="outboundemail_to_send",
            ),
            models.Index(fields=["client_id", "-created_at"], name="outboundemail_by_client"),
        ]
        verbose_name = "email"

    def __str__(self) -> str:
        return f"{self.template} to {self.to_address} ({self.status})"


class AuditEntry(models.Model):
    """One governed change (a webhook endpoint, an email template, a hook switch): who, when, why, and the fields
    before and after, secrets redacted. Append-only: on PostgreSQL a trigger refuses UPDATE and DELETE."""

    created_at = models.DateTimeField(default=timezone.now)
    # No database constraint and no SET NULL: deleting a user must not rewrite the audit; actor_label names them.
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        related_name="+",
    )
    actor_label = models.CharField(max_length=150, help_text="The actor's name at the time, or 'system'.")
    subject_type = models.CharField(
        max_length=64, help_text="The changed model's label, e.g. notifications.hookswitch."
    )
    subject_id = models.BigIntegerField()
    subject_label = models.CharField(max_length=200, help_text="What the subject was called at the time.")
    action = models.CharField(max_length=32, help_text="created, changed, deleted, tested, ...")
    reason = models.TextField()
    before = models.JSONField(default=dict, blank=True)
    after = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["subject_type", "subject_id", "created_at"], name="audit_by_subject")]
        verbose_name = "audit entry"
        verbose_name_plural = "audit"

    def __str__(self) -> str:
        return f"{self.created_at:%Y-%m-%d %H:%M} {self.actor_label} {self.action} {self.subject_label}"
