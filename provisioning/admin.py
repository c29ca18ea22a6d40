from django.contrib import admin

from billing.admin_mixins import SaveChangedFieldsOnly
from provisioning.models import Domain, Server, ServerGroup, Service


@admin.register(ServerGroup)
class ServerGroupAdmin(admin.ModelAdmin):
    list_display = ("name", "fill_type")


@admin.register(Server)
class ServerAdmin(SaveChangedFieldsOnly):
    list_display = ("name", "hostname", "ip_address", "module", "max_accounts", "is_active")
    filter_horizontal = ("groups",)


@admin.register(Service)
class ServiceAdmin(SaveChangedFieldsOnly):
    list_display = ("__str__", "client", "billing_cycle", "recurring_amount", "currency", "next_due_date", "status")
    list_filter = ("status", "billing_cycle", "auto_setup")
    list_select_related = ("client", "product", "currency")
    search_fields = ("domain", "username", "client__contact_name", "client__email")
    readonly_fields = (
        "client",
        "order",
        "product",
        "currency",
        "status",
        "suspension_reason",
        "termination_date",
        "created_at",
        "auto_setup",
    )
    show_full_result_count = False

    def has_add_permission(self, request) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False  # services and domains go with their order (cancel, then delete), never on their own


@admin.register(Domain)
class DomainAdmin(SaveChangedFieldsOnly):
    list_display = ("name", "client", "registration_type", "registration_period", "expiry_date", "status")
    list_filter = ("status", "registration_type")
    list_select_related = ("client",)
    search_fields = ("name", "client__contact_name", "client__email")
    readonly_fields = ("client", "order", "product", "currency", "status", "created_at")
    show_full_result_count = False

    def has_add_permission(self, request) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False  # services and domains go with their order (cancel, then delete), never on their own
