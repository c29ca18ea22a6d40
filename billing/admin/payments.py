"""The admin of transactions, payment gateways and the gateway events they sent."""

from __future__ import annotations

import logging

from django.contrib import admin, messages
from django.http import HttpRequest, HttpResponseRedirect
from django.urls import reverse

from billing.admin.common import ClientIdFilter, GatewayCodeFilter, admin_link
from billing.forms import (
    gateway_config_changes,
    gateway_config_form_for,
    setting_field_names,
)
from billing.gateways import GATEWAY_CLASSES
from billing.models import (
    GatewayConfig,
    GatewayEvent,
    Transaction,
)
from billing.services import gateway_config_create, gateway_config_update, gateway_event_apply
from core.admin_lists import LargeTableAdmin
from core.admin_mixins import RefusalsAsMessages

logger = logging.getLogger(__name__)


@admin.register(Transaction)
class TransactionAdmin(LargeTableAdmin):
    list_display = (
        "date",
        "kind",
        "client_link",
        "invoice_link",
        "gateway",
        "gateway_transaction_id",
        "amount_in",
        "amount_out",
        "credit_change",
        "fees",
        "currency",
    )
    list_filter = ("kind", GatewayCodeFilter, ClientIdFilter)
    list_select_related = ("client", "invoice", "currency")
    # Newest recorded first, on the primary key: the table has no index on its date alone.
    ordering = ("-id",)
    sortable_by = ()
    search_fields = ("gateway_transaction_id",)  # searched by get_search_results below
    search_help_text = "A gateway transaction id (exact)."

    def get_search_results(self, request, queryset, search_term):
        term = search_term.strip()
        return (queryset.filter(gateway_transaction_id=term), False) if term else (queryset, False)

    @admin.display(description="Client")
    def client_link(self, tx: Transaction) -> str:
        return admin_link("admin:billing_client_change", tx.client_id, tx.client)

    @admin.display(description="Invoice")
    def invoice_link(self, tx: Transaction) -> str:
        return admin_link("admin:billing_invoice_change", tx.invoice_id, tx.invoice)

    def has_add_permission(self, request) -> bool:
        return False  # every movement comes from a service

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


def gateway_codes_without_config() -> list[str]:
    configured = set(GatewayConfig.objects.filter(code__in=GATEWAY_CLASSES).values_list("code", flat=True))
    return [code for code in GATEWAY_CLASSES if code not in configured]


@admin.register(GatewayConfig)
class GatewayConfigAdmin(RefusalsAsMessages, admin.ModelAdmin):
    list_display = ("display_name", "code", "enabled", "sort_order", "availability")
    list_editable = ("enabled", "sort_order")
    readonly_fields = ("availability",)

    @admin.display(description="Can take payments")
    def availability(self, config: GatewayConfig) -> str:
        gateway_class = GATEWAY_CLASSES.get(config.code)
        if gateway_class is None:
            return f"No gateway implements {config.code!r}."
        return gateway_class(config).unavailable_reason() or "Yes"

    def get_form(self, request, obj=None, change=False, **kwargs):
        kwargs["form"] = gateway_config_form_for(obj.code if obj else None)
        return super().get_form(request, obj, change=change, **kwargs)

    def get_fieldsets(self, request, obj=None):
        if obj is None:
            return [(None, {"fields": ("code", "display_name", "enabled", "sort_order")})]
        fieldsets = [(None, {"fields": ("code", "display_name", "enabled", "sort_order", "availability")})]
        settings_fields = setting_field_names(GATEWAY_CLASSES.get(obj.code))
        if settings_fields:
            fieldsets.append(("Settings", {"fields": settings_fields}))
        return fieldsets

    def get_readonly_fields(self, request, obj=None):
        return ("code", "availability") if obj else ()

    def add_view(self, request, form_url="", extra_context=None):
        # Only an implemented gateway without a row can be added (the migration seeds them all). Checked here,
        # not in has_add_permission, which every admin page asks for its sidebar.
        if request.method != "POST" and not gateway_codes_without_config():
            self.message_user(request, "Every payment gateway is configured already.", messages.INFO)
            return HttpResponseRedirect(reverse("admin:billing_gatewayconfig_changelist"))
        return super().add_view(request, form_url, extra_context)

    def save_model(self, request, obj, form, change) -> None:
        # Not obj.save(): the service locks the row, checks it and logs the change (secrets only as changed).
        changes = gateway_config_changes(form)
        if not change:
            obj.pk = gateway_config_create(code=form.cleaned_data["code"], changes=changes, actor=request.user).pk
        elif changes:
            gateway_config_update(config_id=obj.pk, changes=changes, actor=request.user)

    def has_delete_permission(self, request, obj=None) -> bool:
        # Implemented gateways are disabled, not deleted; a row left by a removed implementation may go.
        return obj is not None and obj.code not in GATEWAY_CLASSES and super().has_delete_permission(request, obj)


@admin.register(GatewayEvent)
class GatewayEventAdmin(LargeTableAdmin):
    list_display = ("received_at", "gateway", "event_type", "event_id", "status", "attempts", "short_error")
    list_filter = ("status", GatewayCodeFilter)
    # Newest first on the primary key: the table has no index on received_at.
    ordering = ("-id",)
    sortable_by = ()
    search_fields = ("event_id",)  # searched by get_search_results below
    search_help_text = "An event id (exact)."
    actions = ["retry_failed"]
    fields = (
        "gateway",
        "event_type",
        "event_id",
        "status",
        "attempts",
        "received_at",
        "processed_at",
        "error",
        "payload",
    )

    def get_search_results(self, request, queryset, search_term):
        term = search_term.strip()
        return (queryset.filter(event_id=term), False) if term else (queryset, False)

    @admin.display(description="Error / outcome")
    def short_error(self, event: GatewayEvent) -> str:
        return event.error if len(event.error) <= 120 else event.error[:119] + "…"

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def has_retry_permission(self, request) -> bool:
        return request.user.has_perm("billing.change_gatewayevent")

    @admin.action(description="Retry the selected failed events", permissions=["retry"])
    def retry_failed(self, request: HttpRequest, queryset) -> None:
        for event in queryset.order_by("pk"):
            if event.status != GatewayEvent.Status.FAILED:
                self.message_user(
                    request, f"{event} is {event.get_status_display()}: only failed events are retried.", messages.INFO
                )
                continue
            try:
                event = gateway_event_apply(event_pk=event.pk)
            except Exception as exc:  # a fault: the event stays Failed with its error; report it and go on
                logger.exception("Admin retry of gateway event %s failed", event.pk)
                self.message_user(request, f"{event} failed again: {exc}", messages.ERROR)
                continue
            if event.status == GatewayEvent.Status.FAILED:
                self.message_user(request, f"{event} failed again: {event.error}", messages.ERROR)
            else:
                self.message_user(request, f"{event}: {event.get_status_display()} ({event.error}).", messages.SUCCESS)
