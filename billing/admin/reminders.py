"""What the automation run did to invoices: payment reminders and late fees, read-only."""

from __future__ import annotations

from django.contrib import admin

from billing.admin.common import InvoiceIdFilter, admin_link
from billing.models import (
    InvoiceReminder,
    LateFee,
)
from core.admin_lists import LargeTableAdmin


class AutomationRecordAdmin(LargeTableAdmin):
    """What the automation run did to invoices: its rows are its exactly-once keys, so nobody edits them."""

    list_filter = (InvoiceIdFilter,)
    list_select_related = ("invoice",)
    ordering = ("-id",)  # newest first on the primary key, the one index a growing table always has
    sortable_by = ()

    @admin.display(description="Invoice")
    def invoice_link(self, record) -> str:
        return admin_link("admin:billing_invoice_change", record.invoice_id, record.invoice)

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


@admin.register(InvoiceReminder)
class InvoiceReminderAdmin(AutomationRecordAdmin):
    list_display = ("sent_on", "invoice_link", "level_days", "template", "skipped")
    list_filter = ("skipped", InvoiceIdFilter)
    fields = ("invoice", "level_days", "template", "sent_on", "skipped")


@admin.register(LateFee)
class LateFeeAdmin(AutomationRecordAdmin):
    list_display = ("applied_on", "invoice_link", "sequence", "amount_display")
    list_select_related = ("invoice__currency",)
    fields = ("invoice", "sequence", "amount_display", "applied_on")
    readonly_fields = ("amount_display",)

    @admin.display(description="Amount")
    def amount_display(self, fee: LateFee) -> str:
        return fee.invoice.currency.format(fee.amount)
