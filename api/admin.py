"""API credentials in the admin: read only (a secret is never shown again), switched off through the service.
New ones are made with manage.py create_api_credential, which prints the secret once."""

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.template.response import TemplateResponse

from api.models import ApiCredential
from api.services import NAME_MAX, api_credential_create, api_credentials_deactivate
from core.inputs import PlainTextField
from notifications.admin import ReadOnlyAdmin


class NewCredentialForm(forms.Form):
    name = PlainTextField(max_length=NAME_MAX)
    read_only = forms.BooleanField(required=False, help_text="Read every area, change nothing.")
    client_id = forms.IntegerField(
        required=False, min_value=1, label="Client id", help_text="Set: it sees only this client's objects."
    )
    allowed_ips = PlainTextField(
        required=False,
        multiline=True,
        max_length=4000,
        label="Allowed addresses",
        help_text="One address or network (CIDR) per line; empty: anywhere.",
        widget=forms.Textarea(attrs={"rows": 3}),
    )


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

    def has_add_permission(self, request, obj=None) -> bool:
        return request.user.has_perm("api.add_apicredential")

    def add_view(self, request, form_url="", extra_context=None):
        """Made through the service; the secret is on the page that answers the POST, this once."""
        if not self.has_add_permission(request):
            raise PermissionDenied
        form = NewCredentialForm(request.POST if request.method == "POST" else None)
        context = {**self.admin_site.each_context(request), "opts": self.model._meta, "title": "New API credential"}
        if form.is_valid():
            data = form.cleaned_data
            try:
                made = api_credential_create(
                    name=data["name"],
                    actor=request.user,
                    read_only=data["read_only"],
                    client_id=data["client_id"],
                    allowed_ips=[line for line in data["allowed_ips"].splitlines() if line.strip()],
                )
            except ValidationError as refused:
                form.add_error(None, refused)
            else:
                context.update(made=made.credential, secret=made.secret)
        context["form"] = form
        return TemplateResponse(request, "admin/api/apicredential/new_credential.html", context)

    @admin.action(description="Switch the selected credentials off", permissions=["view"])
    def deactivate(self, request, queryset) -> None:
        if not request.user.has_perm("api.change_apicredential"):
            self.message_user(request, "You may not switch API credentials off.", messages.ERROR)
            return
        done = api_credentials_deactivate(
            credential_ids=list(queryset.values_list("pk", flat=True)), actor=request.user
        )
        self.message_user(request, f"{done} credential(s) switched off.", messages.SUCCESS)
