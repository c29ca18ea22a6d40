from django.contrib import admin

from billing.admin_mixins import SaveChangedFieldsOnly
from billing.models import Client, Currency, Invoice, InvoiceItem, Transaction


@admin.register(Currency)
class CurrencyAdmin(admin.ModelAdmin):
    list_display = ("code", "prefix", "suffix", "decimal_places", "exchange_rate", "is_default")


@admin.register(Client)
class ClientAdmin(SaveChangedFieldsOnly):
    list_display = ("contact_name", "company_name", "email", "country", "currency", "credit_balance", "status")
    list_filter = ("status", "country", "currency")
    list_select_related = ("currency",)
    search_fields = ("contact_name", "company_name", "email")
    readonly_fields = ("status", "credit_balance", "created_at")
    raw_id_fields = ("user",)
    show_full_result_count = False


class InvoiceItemInline(admin.TabularInline):
    model = InvoiceItem
    extra = 0
    fields = ("kind", "description", "amount", "period_start", "period_end", "related_id")
    readonly_fields = fields
    can_delete = False

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Invoice)
class InvoiceAdmin(SaveChangedFieldsOnly):
    list_display = ("__str__", "client", "date", "due_date", "total", "currency", "status")
    list_filter = ("status", "date")
    list_select_related = ("client", "currency")
    search_fields = ("number", "client__contact_name", "client__company_name", "client__email")
    readonly_fields = (
        "number",
        "client",
        "currency",
        "status",
        "date",
        "due_date",
        "paid_at",
        "sent_at",
        "subtotal",
        "tax_1",
        "tax_2",
        "credit_applied",
        "total",
        "created_at",
    )
    inlines = [InvoiceItemInline]
    show_full_result_count = False

    def has_add_permission(self, request) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False  # an invoice goes with its order (order delete) or is cancelled


@admin.register(Transaction)
class TransactionAdmin(admin.ModelAdmin):
    list_display = (
        "date",
        "client",
        "invoice",
        "gateway",
        "gateway_transaction_id",
        "amount_in",
        "amount_out",
        "currency",
    )
    list_select_related = ("client", "invoice", "currency")
    search_fields = ("gateway_transaction_id", "client__contact_name")
    show_full_result_count = False

    def has_change_permission(self, request, obj=None) -> bool:
        return False
