from django.contrib import admin, messages
from django.http import HttpRequest, HttpResponseRedirect
from django.urls import reverse
from django.utils.html import format_html_join
from django.utils.safestring import mark_safe

from fraud.engine import RULES
from fraud.geoip import geoip_status, geoip_warnings
from fraud.models import SETTINGS_ROW_ID, FraudRule, FraudSettings


def _warn_about_geoip(request: HttpRequest) -> None:
    # Only on GET: after a POST the admin redirects, and the next page would show the warnings twice.
    if request.method == "GET":
        for warning in geoip_warnings():
            messages.warning(request, warning)


@admin.register(FraudSettings)
class FraudSettingsAdmin(admin.ModelAdmin):
    """One row: the list page opens it directly."""

    readonly_fields = ["geoip_databases", "updated_at"]
    fieldsets = [
        (None, {"fields": ["threshold", "new_client_max_age_days"]}),
        (
            "Which orders are checked",
            {
                "fields": [
                    "skip_for_clients_with_active_service",
                    "skip_for_orders_paid_by_credit",
                    "fraud_check_admin_orders",
                ]
            },
        ),
        ("Lists", {"fields": ["free_email_domains", "disposable_email_domains", "high_risk_countries"]}),
        (
            "GeoIP",
            {
                "fields": ["geoip_databases"],
                "description": "Set in the environment (FRAUD_GEOIP_CITY_DB, FRAUD_GEOIP_ASN_DB, "
                "FRAUD_GEOIP_ANONYMOUS_DB); build a database from a CSV with `manage.py build_geoip_db`.",
            },
        ),
        (None, {"fields": ["updated_at"]}),
    ]

    @admin.display(description="GeoIP databases")
    def geoip_databases(self, obj: FraudSettings) -> str:
        return format_html_join(mark_safe("<br>"), "{}", ((status.describe(),) for status in geoip_status()))

    def has_add_permission(self, request: HttpRequest) -> bool:
        return not FraudSettings.objects.filter(pk=SETTINGS_ROW_ID).exists()

    def has_delete_permission(self, request: HttpRequest, obj: FraudSettings | None = None) -> bool:
        return False

    def changelist_view(self, request: HttpRequest, extra_context: dict | None = None):
        if FraudSettings.objects.filter(pk=SETTINGS_ROW_ID).exists():
            return HttpResponseRedirect(reverse("admin:fraud_fraudsettings_change", args=[SETTINGS_ROW_ID]))
        return HttpResponseRedirect(reverse("admin:fraud_fraudsettings_add"))

    def changeform_view(self, request: HttpRequest, object_id=None, form_url="", extra_context=None):
        _warn_about_geoip(request)
        return super().changeform_view(request, object_id, form_url, extra_context)

    def save_model(self, request, obj, form, change) -> None:
        obj.pk = SETTINGS_ROW_ID
        super().save_model(request, obj, form, change)


@admin.register(FraudRule)
class FraudRuleAdmin(admin.ModelAdmin):
    """The rules are code; the admin switches them on and off and sets their points and thresholds."""

    list_display = ["title", "code", "enabled", "points", "threshold", "threshold_unit", "uses_geoip"]
    list_display_links = ["title"]
    list_editable = ["enabled", "points", "threshold"]
    list_filter = ["enabled"]
    fields = ["code", "title", "enabled", "points", "threshold", "threshold_unit"]
    readonly_fields = ["code", "title", "threshold_unit"]

    @admin.display(description="rule")
    def title(self, obj: FraudRule) -> str:
        return obj.title

    @admin.display(description="threshold unit")
    def threshold_unit(self, obj: FraudRule) -> str:
        return obj.threshold_unit or "—"

    @admin.display(description="uses GeoIP", boolean=True)
    def uses_geoip(self, obj: FraudRule) -> bool:
        definition = RULES.get(obj.code)
        return bool(definition and definition.uses_geoip)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: FraudRule | None = None) -> bool:
        return False

    def changelist_view(self, request: HttpRequest, extra_context: dict | None = None):
        _warn_about_geoip(request)
        return super().changelist_view(request, extra_context)

    def changeform_view(self, request: HttpRequest, object_id=None, form_url="", extra_context=None):
        _warn_about_geoip(request)
        return super().changeform_view(request, object_id, form_url, extra_context)
