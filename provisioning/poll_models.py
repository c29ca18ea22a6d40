"""What the registrar poll keeps (provisioning.queue.registrar_poll): each run that read a registrar account's
message queue (RegistrarPoll), and each message it read (RegistrarPollMessage), once per (configuration, the
registry's message id): the row is written in the transaction that applies the message, so a message read again
(the acknowledgement was lost) is only acknowledged."""

from __future__ import annotations

from django.db import models
from django.utils import timezone
from django_fsm import FSMField, FSMModelMixin, transition


class RegistrarPoll(FSMModelMixin, models.Model):
    """One reading of a registrar configuration's message queue. The run's registrar_poll step writes it Queued
    and sends its task after commit; the task runs it: Running, then Succeeded (the queue read, up to the run's
    bound) or Failed (`error`: the registry's fault, kept for the admin; the next run reads again). A run that
    finds another poll of the same registrar running is Skipped; one left Queued or Running by a task that never
    ran or a worker that stopped is closed as Failed by the next poll of that registrar."""

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"
        SKIPPED = "skipped", "Skipped: another poll was running"

    config = models.ForeignKey("provisioning.RegistrarConfig", on_delete=models.CASCADE, related_name="polls")
    status = FSMField(default=Status.QUEUED, choices=Status.choices, protected=True)
    created_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    messages_read = models.PositiveIntegerField(default=0)
    messages_left = models.PositiveIntegerField(
        null=True, blank=True, help_text="Still in the queue when the run ended (its bound reached), when known."
    )
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["config", "status"], name="registrarpoll_config_status")]

    def __str__(self) -> str:
        return f"Poll of {self.config_id and self.config} at {self.created_at:%Y-%m-%d %H:%M}"

    @transition(field=status, source=[Status.QUEUED, Status.RUNNING], target=Status.RUNNING)
    def start(self, *, at) -> None:
        """Running again from Running: its task was delivered again after a worker stopped."""
        self.started_at = at

    @transition(field=status, source=Status.RUNNING, target=Status.SUCCEEDED)
    def succeed(self, *, at, read: int, left: int | None) -> None:
        self.finished_at = at
        self.messages_read = read
        self.messages_left = left

    @transition(field=status, source=[Status.QUEUED, Status.RUNNING], target=Status.FAILED)
    def fail(self, *, at, read: int, error: str) -> None:
        self.finished_at = at
        self.messages_read = read
        self.error = error

    @transition(field=status, source=Status.QUEUED, target=Status.SKIPPED)
    def skip(self, *, at) -> None:
        self.finished_at = at


class RegistrarPollMessage(models.Model):
    """A message read from a registrar account's queue, and what it did. Unique per (configuration, message id):
    the exactly-once key of its effect."""

    class Outcome(models.TextChoices):
        APPLIED = "applied", "Applied to the domain"
        NOTHING_TO_DO = "nothing_to_do", "No change to our domain"
        STALE = "stale", "About an earlier transfer or domain: not applied"
        UNKNOWN_DOMAIN = "unknown_domain", "About a domain the portal does not have at this registrar"
        NOT_A_TRANSFER = "not_a_transfer", "Not about a transfer of ours: recorded only"

    config = models.ForeignKey("provisioning.RegistrarConfig", on_delete=models.CASCADE, related_name="poll_messages")
    poll = models.ForeignKey(RegistrarPoll, null=True, blank=True, on_delete=models.SET_NULL, related_name="messages")
    message_id = models.CharField(max_length=255, help_text="The registry's id of the message.")
    queued_at = models.DateTimeField(null=True, blank=True, help_text="When the registry queued it.")
    text = models.TextField(blank=True)
    domain_name = models.CharField(max_length=253, blank=True)
    transfer_status = models.CharField(max_length=32, blank=True, help_text="The registry's trStatus.")
    expiry_date = models.DateField(null=True, blank=True)
    domain = models.ForeignKey(
        "provisioning.Domain", null=True, blank=True, on_delete=models.SET_NULL, related_name="poll_messages"
    )
    outcome = models.CharField(max_length=16, choices=Outcome.choices)
    recorded_at = models.DateTimeField(default=timezone.now)
    acked_at = models.DateTimeField(
        null=True, blank=True, help_text="Empty: recorded, not yet taken off the registry's queue."
    )

    class Meta:
        ordering = ["-recorded_at", "-id"]
        constraints = [models.UniqueConstraint(fields=["config", "message_id"], name="provisioning_poll_message_once")]

    def __str__(self) -> str:
        return f"Message {self.message_id} of {self.config_id and self.config}"
