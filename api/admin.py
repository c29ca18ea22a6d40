"""API credentials in the admin: read only (a secret is never shown again), switched off through the service.
New ones are made with manage.py create_api_credential, which prints the secret once."""

from django.contrib import admin, messages

from api.models import ApiCredential
from api.services import api_credentials_deactivate
from notifications.admin import ReadOnlyAdmin


@admin.register(ApiCredential)
class ApiCredentialAdmin(ReadOnlyAdmin):
    list_display = ("name", "identifier", "client", "is_active", "created_at", "last_used_at")
    list_filter = ("is_active",)
    list_select_related = ("client",)
    search_fields = ("name", "identifier")
    fields = ("name", "identifier", "client", "grants", "allowed_ips", "is_active", "created_at", "last_used_at")
    readonly_fields = fields
    actions = ["deactivate"]

    def has_delete_permission(self, request, obj=None) -> bool:
        return False  # its activity stays attributable: switch it off instead

    @admin.action(description="Switch the selected credentials off", permissions=["view"])
    def deactivate(self, request, queryset) -> None:
        if not request.user.has_perm("api.change_apicredential"):
            self.message_user(request, "You may not switch API credentials off.", messages.ERROR)
            return
        done = api_credentials_deactivate(
            credential_ids=list(queryset.values_list("pk", flat=True)), actor=request.user
        )
        self.message_user(request, f"{done} credential(s) switched off.", messages.SUCCESS)
