"""The admin of the automation run: its log (per run and per step, read-only) and its one row of settings, which
is edited in place and saved through the service, which logs the actor."""

from __future__ import annotations

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import HttpResponseRedirect
from django.urls import reverse

from automation.forms import AutomationSettingsForm
from automation.models import AutomationRun, AutomationSettings, AutomationStepRun
from automation.services import automation_settings_update
from core.admin_mixins import RefusalsAsMessages
from notifications.admin import ReadOnlyAdmin, exact_filter


class AutomationStepRunInline(admin.TabularInline):
    model = AutomationStepRun
    extra = 0
    fields = ("step", "status", "counts", "error_count", "errors", "started_at", "finished_at")
    readonly_fields = fields
    can_delete = False

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(AutomationRun)
class AutomationRunAdmin(ReadOnlyAdmin):
    """The automation log per run: each run's steps with what they did and their errors."""

    list_display = ("run_date", "trigger", "status", "started_at", "finished_at", "daily")
    # A date filter rather than a date hierarchy: the hierarchy lists the years of every run (a DISTINCT over the
    # whole table) on each page view.
    list_filter = ("status", exact_filter("trigger", title="trigger", placeholder="e.g. command"), "started_at")
    inlines = [AutomationStepRunInline]


@admin.register(AutomationStepRun)
class AutomationStepRunAdmin(ReadOnlyAdmin):
    """The automation log per step: one step's history across runs (filter by step)."""

    list_display = ("step", "run_date", "status", "counts", "error_count", "started_at", "finished_at")
    list_filter = (exact_filter("step", title="step", placeholder="step name"), "status")
    list_select_related = ("run",)

    @admin.display(description="run date", ordering="run__run_date")
    def run_date(self, step: AutomationStepRun):
        return step.run.run_date


@admin.register(AutomationSettings)
class AutomationSettingsAdmin(RefusalsAsMessages, admin.ModelAdmin):
    """One row, edited in place like the billing settings; saved through the service, which logs the actor."""

    form = AutomationSettingsForm
    readonly_fields = ("updated_at",)
    fieldsets = [
        ("Run", {"fields": ("time_of_day", "updated_at")}),
        (
            "Invoicing",
            {"fields": ("invoice_lead_days", "lead_days_by_cycle", "combined_invoicing", "continuous_invoicing")},
        ),
        ("Reminders", {"fields": ("reminder_levels",)}),
        (
            "Late fees",
            {
                "fields": (
                    "late_fee_enabled",
                    "late_fee_type",
                    "late_fee_amount",
                    "late_fee_minimum",
                    "late_fee_after_days",
                    "late_fee_repeat_days",
                    "late_fee_max_count",
                )
            },
        ),
        (
            "Suspension and termination",
            {
                "fields": (
                    "suspend_enabled",
                    "suspend_after_days",
                    "suspend_email",
                    "unsuspend_on_payment",
                    "terminate_enabled",
                    "terminate_after_days",
                )
            },
        ),
        (
            "Orders and domains",
            {
                "fields": (
                    "cancel_unpaid_orders_enabled",
                    "cancel_unpaid_orders_after_days",
                    "auto_setup_known_clients_only",
                    "domain_renewal_notice_days",
                )
            },
        ),
    ]

    def changelist_view(self, request, extra_context=None):
        if not self.has_view_or_change_permission(request):
            raise PermissionDenied
        row = AutomationSettings.load()
        return HttpResponseRedirect(reverse("admin:automation_automationsettings_change", args=[row.pk]))

    def has_add_permission(self, request) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def save_model(self, request, obj, form, change) -> None:
        # Not obj.save(): the service checks the row again under its lock, saves it and logs who changed what.
        automation_settings_update(actor=request.user, **{name: form.cleaned_data[name] for name in form.changed_data})
