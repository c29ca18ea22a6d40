from django.conf import settings
from django.db import models
from django.utils import timezone


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

    class Meta:
        constraints = [models.UniqueConstraint(fields=["event", "handler"], name="handler_run_once_per_event")]

    def __str__(self) -> str:
        return f"{self.handler} on {self.event_id}: {self.status}"


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
    """An email the portal has decided to send. Sending arrives with the email issue; the decision is kept now."""

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        SENT = "sent", "Sent"
        FAILED = "failed", "Failed"

    template = models.CharField(max_length=64)
    to_address = models.EmailField()
    context = models.JSONField(default=dict)
    client_id = models.BigIntegerField(null=True, blank=True, db_index=True)
    # Unique through Meta's constraint: unique=True adds a LIKE-prefix twin of the index on PostgreSQL.
    idempotency_key = models.CharField(max_length=200)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at"]
        constraints = [models.UniqueConstraint(fields=["idempotency_key"], name="outboundemail_idempotency_key")]

    def __str__(self) -> str:
        return f"{self.template} to {self.to_address} ({self.status})"


class AutomationRun(models.Model):
    """One run of the scheduled automation for a date (today, or an earlier or later one given with --date).
    Its steps' outcomes are its AutomationStepRun rows. Dry runs leave no row: they write nothing."""

    class Status(models.TextChoices):
        RUNNING = "running", "Running"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Had errors"

    run_date = models.DateField(help_text="The date the steps ran as.")
    trigger = models.CharField(max_length=32, help_text="What started it: the command, Celery beat, an admin.")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.RUNNING)
    started_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)
    daily = models.BooleanField(
        default=False, help_text="This run announced DailyCronJob: the first run of its date that ran every step."
    )

    class Meta:
        ordering = ["-started_at", "-id"]
        indexes = [models.Index(fields=["run_date"])]
        constraints = [
            models.UniqueConstraint(
                fields=["run_date"], condition=models.Q(daily=True), name="automation_daily_event_once_per_date"
            )
        ]

    def __str__(self) -> str:
        return f"Automation run for {self.run_date} ({self.get_status_display()})"


class AutomationStepRun(models.Model):
    """What one step of a run did: its counts (e.g. invoices created, reminders sent) and its errors. A step
    that found another run holding its lock is recorded as skipped."""

    class Status(models.TextChoices):
        RUNNING = "running", "Running"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Had errors"
        SKIPPED = "skipped", "Skipped: another run held it"

    run = models.ForeignKey(AutomationRun, on_delete=models.CASCADE, related_name="steps")
    step = models.CharField(max_length=64)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.RUNNING)
    counts = models.JSONField(default=dict, blank=True)
    error_count = models.PositiveIntegerField(default=0)
    errors = models.TextField(blank=True, help_text="The first errors, one per line (all of them are logged).")
    started_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["run", "id"]
        indexes = [models.Index(fields=["step", "started_at"])]

    def __str__(self) -> str:
        return f"{self.step}: {self.get_status_display()}"
