"""The server sync reports in the admin: read-only, written only by the sync (the step or `manage.py server_sync`)."""

from __future__ import annotations

from django.contrib import admin
from django.utils.html import format_html_join

from core.admin_lists import LargeTableAdmin
from provisioning.models import ServerSyncReport


@admin.register(ServerSyncReport)
class ServerSyncReportAdmin(LargeTableAdmin):
    """A report per server and run: a table that grows every day, so its list never counts it in full."""

    list_display = ("server", "checked_at", "ok", "accounts_on_server", "services_checked", "unknown", "missing")
    list_filter = ("ok", "server")
    list_select_related = ("server",)
    date_hierarchy = "checked_at"
    fields = (
        "server",
        "checked_at",
        "ok",
        "error",
        "accounts_on_server",
        "services_checked",
        "unknown_list",
        "missing_list",
    )
    readonly_fields = fields

    @admin.display(description="unknown accounts")
    def unknown(self, report: ServerSyncReport) -> int:
        return len(report.unknown_accounts)

    @admin.display(description="missing accounts")
    def missing(self, report: ServerSyncReport) -> int:
        return len(report.missing_accounts)

    @admin.display(description="accounts on the server that no service knows")
    def unknown_list(self, report: ServerSyncReport) -> str:
        return (
            format_html_join(
                "", "<div>{} {}</div>", ((row["username"], row.get("domain") or "") for row in report.unknown_accounts)
            )
            or "none"
        )

    @admin.display(description="services whose account is missing")
    def missing_list(self, report: ServerSyncReport) -> str:
        return (
            format_html_join(
                "",
                "<div>service #{} ({})</div>",
                ((row["service_id"], row["username"] or "no username") for row in report.missing_accounts),
            )
            or "none"
        )

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False
