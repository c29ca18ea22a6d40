"""The admin of taxes, billing settings and automation settings: each save goes through its service."""

from __future__ import annotations

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import HttpResponseRedirect
from django.urls import reverse

from billing.forms import (
    AutomationSettingsForm,
    BillingSettingsForm,
)
from billing.models import (
    AutomationSettings,
    BillingSettings,
    TaxRule,
)
from billing.money import format_rate
from billing.services import (
    automation_settings_update,
    billing_settings_update,
)
from core.admin_lists import LargeTableAdmin


@admin.register(TaxRule)
class TaxRuleAdmin(LargeTableAdmin):
    list_display = ("name", "level", "country", "state", "rate_display")
    list_filter = ("level",)
    search_fields = ("name", "country", "state")
    fields = ("level", "name", "country", "state", "rate")

    @admin.display(description="rate", ordering="rate")
    def rate_display(self, rule: TaxRule) -> str:
        return format_rate(rule.rate)


@admin.register(BillingSettings)
class BillingSettingsAdmin(admin.ModelAdmin):
    """One row, edited in place: the list goes straight to it."""

    form = BillingSettingsForm
    readonly_fields = ("updated_at",)

    def changelist_view(self, request, extra_context=None):
        if not self.has_view_or_change_permission(request):
            raise PermissionDenied
        row = BillingSettings.load()
        return HttpResponseRedirect(reverse("admin:billing_billingsettings_change", args=[row.pk]))

    def has_add_permission(self, request) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def save_model(self, request, obj, form, change) -> None:
        # Not obj.save(): the service checks the row again under its lock, saves it and logs who changed what.
        billing_settings_update(actor=request.user, changes=form.changes())


@admin.register(AutomationSettings)
class AutomationSettingsAdmin(admin.ModelAdmin):
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
                    "domain_renewal_notice_days",
                )
            },
        ),
    ]

    def changelist_view(self, request, extra_context=None):
        if not self.has_view_or_change_permission(request):
            raise PermissionDenied
        row = AutomationSettings.load()
        return HttpResponseRedirect(reverse("admin:billing_automationsettings_change", args=[row.pk]))

    def has_add_permission(self, request) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def save_model(self, request, obj, form, change) -> None:
        # Not obj.save(): the service checks the row again under its lock, saves it and logs who changed what.
        automation_settings_update(actor=request.user, **{name: form.cleaned_data[name] for name in form.changed_data})
