"""The automation run's log (a run per date, with what each of its steps did) and the settings the run follows."""

import datetime

from django.db import models
from django.utils import timezone

from core.money import MoneyField


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
        indexes = [models.Index(fields=["run_date"], name="automationrun_run_date")]
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
        indexes = [models.Index(fields=["step", "started_at"], name="automationsteprun_step_started")]

    def __str__(self) -> str:
        return f"{self.step}: {self.get_status_display()}"


def default_reminder_levels() -> list[dict]:
    return [
        {"days": -7, "template": "invoice_reminder_upcoming"},
        {"days": 0, "template": "invoice_reminder_due"},
        {"days": 1, "template": "invoice_overdue_first"},
        {"days": 7, "template": "invoice_overdue_second"},
        {"days": 14, "template": "invoice_overdue_third"},
    ]


def default_domain_renewal_notice_days() -> list[int]:
    return [30, 7]


class AutomationSettings(models.Model):
    """What the daily automation run does: one row (pk=1), read with AutomationSettings.load() and changed only
    through automation.services.automation_settings_update, which checks the whole row and logs who changed what."""

    class LateFeeType(models.TextChoices):
        FIXED = "fixed", "Fixed amount"
        PERCENT = "percent", "Percent of the invoice total"

    time_of_day = models.TimeField(
        default=datetime.time(3, 0), help_text="When the daily run starts, in the portal's time zone."
    )

    invoice_lead_days = models.PositiveSmallIntegerField(
        "invoice lead days",
        default=14,
        help_text="Renewal invoices are generated this many days before the due date.",
    )
    lead_days_by_cycle = models.JSONField(
        "lead days by billing cycle",
        default=dict,
        blank=True,
        help_text="Lead days for particular billing cycles (e.g. 30 for annual renewals); the other cycles use "
        "the invoice lead days.",
    )
    combined_invoicing = models.BooleanField(
        default=True,
        help_text="One invoice per client and due date for all services and domains due that day, instead of one "
        "invoice each.",
    )
    continuous_invoicing = models.BooleanField(
        default=False,
        help_text="Invoice the next period even while an earlier invoice of the same service is still unpaid.",
    )

    reminder_levels = models.JSONField(
        default=default_reminder_levels,
        blank=True,
        help_text="Each level emails the client once per invoice: days before the due date (negative), on it (0) "
        "or overdue (positive), and the email template to send.",
    )

    late_fee_enabled = models.BooleanField("charge late fees", default=False)
    late_fee_type = models.CharField(max_length=8, choices=LateFeeType.choices, default=LateFeeType.FIXED)
    late_fee_amount = MoneyField(
        help_text="Fixed: the fee in the default currency (converted at the invoice currency's exchange rate). "
        "Percent: the percent of the invoice total, e.g. 10.",
    )
    late_fee_minimum = MoneyField(
        help_text="Percent only: the least fee charged, in the default currency like a fixed fee. 0: no minimum.",
    )
    late_fee_after_days = models.PositiveSmallIntegerField(
        default=7, help_text="Days overdue before the first late fee is added."
    )
    late_fee_repeat_days = models.PositiveSmallIntegerField(
        default=0, help_text="0: the fee is added once. N: another fee every N days while the invoice stays unpaid."
    )
    late_fee_max_count = models.PositiveSmallIntegerField(
        "most late fees per invoice", default=1, help_text="No invoice gets more late fees than this."
    )

    suspend_enabled = models.BooleanField("suspend overdue services", default=True)
    suspend_after_days = models.PositiveSmallIntegerField(
        default=7, help_text="Days overdue before the services on an unpaid invoice are suspended."
    )
    suspend_email = models.BooleanField(
        "email on suspension", default=True, help_text="Tell the client when a service is suspended."
    )
    unsuspend_on_payment = models.BooleanField(
        default=True,
        help_text="Lift an overdue suspension as soon as the invoice is paid (never one for abuse or made by an "
        "admin).",
    )
    terminate_enabled = models.BooleanField("terminate overdue services", default=False)
    terminate_after_days = models.PositiveSmallIntegerField(
        default=30,
        help_text="Days overdue before the services on an unpaid invoice are terminated and their data deleted.",
    )

    cancel_unpaid_orders_enabled = models.BooleanField("cancel unpaid orders", default=False)
    cancel_unpaid_orders_after_days = models.PositiveSmallIntegerField(
        default=14,
        help_text="A pending order whose invoice is still unpaid this many days after it was placed is cancelled.",
    )
    auto_setup_known_clients_only = models.BooleanField(
        "auto-setup only for known clients",
        default=False,
        help_text="Set up automatically (on order or on payment) only for clients who already have an active "
        "service; a new client's service stays Pending until an admin accepts the order.",
    )
    domain_renewal_notice_days = models.JSONField(
        default=default_domain_renewal_notice_days,
        blank=True,
        help_text="Days before a domain expires when its owner is reminded to renew (up to 5 notices).",
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = verbose_name_plural = "automation settings"

    def __str__(self) -> str:
        return "Automation settings"

    @classmethod
    def load(cls) -> "AutomationSettings":
        return cls.objects.get_or_create(pk=1)[0]
