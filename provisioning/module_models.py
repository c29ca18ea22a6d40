"""The module queue's rows: every call a module is asked to make (ModuleCall, once per idempotency key), the
to-dos a call leaves for a person (ModuleTodo), and the usage the daily step records (ServiceUsage)."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone
from django_fsm import FSMField, FSMModelMixin, transition

from provisioning.modules.base import Action
from provisioning.registrars.base import RegistrarAction

ACTION_CHOICES = [(action.value, action.value) for action in Action] + [
    (action.value, action.value) for action in RegistrarAction if action.value not in set(Action)
]


class ModuleCall(FSMModelMixin, models.Model):
    """One action asked of a service's module, or of a domain's registrar (then `domain` is set, not `service`,
    and `module` names the registrar). The idempotency key is unique: asking again with the same key (a
    double-click, two admins at once, a repeated run, a redelivered task) finds this row instead of a second call.

    Queued → Running → Succeeded; a transient error → Retrying (next_attempt_at) → Running again, up to the retry
    limit; a permanent error, a veto or the limit → Failed, where it waits for an admin's Retry (→ Queued) or
    "mark resolved" (→ Resolved: the admin settled it by hand)."""

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        RETRYING = "retrying", "Waiting to retry"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed: waits for an admin"
        RESOLVED = "resolved", "Resolved by an admin"

    OPEN_STATUSES = (Status.QUEUED, Status.RUNNING, Status.RETRYING, Status.FAILED)

    service = models.ForeignKey(
        "provisioning.Service", null=True, blank=True, on_delete=models.CASCADE, related_name="module_calls"
    )
    domain = models.ForeignKey(
        "provisioning.Domain", null=True, blank=True, on_delete=models.CASCADE, related_name="registrar_calls"
    )
    server = models.ForeignKey(
        "provisioning.Server", null=True, blank=True, on_delete=models.SET_NULL, related_name="module_calls"
    )
    module = models.CharField(max_length=64, help_text="The service's module, or the domain's registrar.")
    action = models.CharField(max_length=32, choices=ACTION_CHOICES)
    idempotency_key = models.CharField(max_length=200, unique=True)
    # The action's parameters (a new password, the new package's settings, the suspension reason), encrypted:
    # they may hold a secret (core.crypto).
    params_token = models.TextField(blank=True)
    status = FSMField(default=Status.QUEUED, choices=Status.choices, protected=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    error = models.TextField(blank=True)
    error_transient = models.BooleanField(null=True, blank=True)
    result = models.JSONField(default=dict, blank=True, help_text="What the module returned, secrets redacted.")
    request_excerpt = models.TextField(blank=True)
    response_excerpt = models.TextField(blank=True)
    duration_ms = models.PositiveIntegerField(null=True, blank=True)
    requested_by = models.CharField(max_length=150, help_text="Who asked: a user name, or 'system'.")
    created_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    resolution_note = models.TextField(blank=True)

    class Meta:
        ordering = ["-id"]
        indexes = [
            models.Index(fields=["status", "next_attempt_at"]),
            models.Index(fields=["service", "action"]),
            models.Index(fields=["domain", "action"]),
        ]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(service__isnull=False, domain__isnull=True)
                | models.Q(service__isnull=True, domain__isnull=False),
                name="provisioning_modulecall_service_or_domain",
            )
        ]
        permissions = [
            ("retry_modulecall", "Can retry a failed module call"),
            ("resolve_modulecall", "Can mark a module call resolved"),
        ]

    def __str__(self) -> str:
        of = f"domain #{self.domain_id}" if self.domain_id else f"service #{self.service_id}"
        return f"{self.action.replace('_', ' ')} of {of} ({self.get_status_display()})"

    @transition(field=status, source=[Status.QUEUED, Status.RETRYING, Status.RUNNING], target=Status.RUNNING)
    def start(self, *, at) -> None:
        """Running again from Running: the worker that had it died (acks_late redelivered it)."""
        self.attempts += 1
        self.started_at = at
        self.next_attempt_at = None

    @transition(field=status, source=Status.RUNNING, target=Status.SUCCEEDED)
    def succeed(self, *, at) -> None:
        self.finished_at = at
        self.error = ""
        self.error_transient = None

    @transition(field=status, source=Status.RUNNING, target=Status.RETRYING)
    def wait_to_retry(self, *, error: str, at, next_attempt_at) -> None:
        self.error = error
        self.error_transient = True
        self.finished_at = at
        self.next_attempt_at = next_attempt_at

    @transition(field=status, source=[Status.QUEUED, Status.RUNNING], target=Status.FAILED)
    def fail(self, *, error: str, transient: bool, at) -> None:
        self.error = error
        self.error_transient = transient
        self.finished_at = at
        self.next_attempt_at = None

    @transition(field=status, source=[Status.FAILED, Status.RETRYING], target=Status.QUEUED)
    def retry(self) -> None:
        """An admin's Retry: the same call, with the same key, tried again now."""
        self.next_attempt_at = None

    @transition(field=status, source=[Status.FAILED, Status.RETRYING], target=Status.RESOLVED)
    def resolve(self, *, by, note: str, at) -> None:
        self.resolved_by = by
        self.resolution_note = note
        self.finished_at = at
        self.next_attempt_at = None


class ModuleTodo(models.Model):
    """Work a module call left for a person (the Manual module files one for every action)."""

    call = models.OneToOneField(ModuleCall, on_delete=models.CASCADE, related_name="todo")
    service = models.ForeignKey(
        "provisioning.Service", null=True, blank=True, on_delete=models.CASCADE, related_name="module_todos"
    )
    domain = models.ForeignKey(
        "provisioning.Domain", null=True, blank=True, on_delete=models.CASCADE, related_name="registrar_todos"
    )
    text = models.TextField()
    created_at = models.DateTimeField(default=timezone.now)
    done_at = models.DateTimeField(null=True, blank=True)
    done_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["done_at", "-id"]
        indexes = [models.Index(fields=["done_at"])]

    def __str__(self) -> str:
        return self.text[:80]


class ServiceUsage(models.Model):
    """What a service used on its server on a day, as its module reported it (once per service and day)."""

    service = models.ForeignKey("provisioning.Service", on_delete=models.CASCADE, related_name="usage")
    recorded_on = models.DateField()
    figures = models.JSONField(default=dict)
    limits = models.JSONField(default=dict, blank=True)
    recorded_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-recorded_on"]
        constraints = [models.UniqueConstraint(fields=["service", "recorded_on"], name="provisioning_usage_once_a_day")]

    def __str__(self) -> str:
        return f"Usage of service #{self.service_id} on {self.recorded_on}"
