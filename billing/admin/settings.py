"""The admin of taxes and billing settings (the automation settings are in automation.admin)."""

from __future__ import annotations

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import HttpResponseRedirect
from django.urls import reverse

from billing.forms import BillingSettingsForm
from billing.models import BillingSettings, TaxRule
from billing.money import format_rate
from billing.services import billing_settings_update
from core.admin_lists import LargeTableAdmin
from core.admin_mixins import RefusalsAsMessages


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
class BillingSettingsAdmin(RefusalsAsMessages, admin.ModelAdmin):
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
