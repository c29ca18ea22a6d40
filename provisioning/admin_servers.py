"""The servers' and server groups' admin. A server's module is chosen from the registry; its credentials are
password inputs that never show what is stored (the page names which are stored, never their values) and its
server settings are the module's declared fields. Saving goes through provisioning.server_services.server_save
(lock, validation against the declaration, encrypted credentials, activity row); the "Test connection" button
asks the module to reach the server (provisioning.servers.server_test_connection)."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.contrib.admin.views.main import ChangeList
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpRequest, HttpResponseNotAllowed, HttpResponseRedirect
from django.urls import path, reverse
from django.utils.html import format_html

from core import crypto
from core.admin_lists import LargeTableAdmin
from core.admin_mixins import RefusalsAsMessages
from core.crypto import SecretUnreadable
from provisioning.admin_queue import ModuleFilter
from provisioning.models import Server, ServerGroup
from provisioning.module_forms import SettingsFieldsMixin, module_choices, module_chosen, setting_field
from provisioning.modules import registry
from provisioning.modules.base import SettingType
from provisioning.server_services import PLAIN_FIELDS, server_delete, server_save
from provisioning.servers import (
    accounts_on,
    server_credentials_names,
    server_delete_blocker,
    server_test_connection,
)

CREDENTIAL_PREFIX = "credential_"


def _stored_credentials(server: Server | None) -> dict[str, str]:
    if server is None or not server.credentials_token:
        return {}
    try:
        return crypto.decrypt_json(server.credentials_token)
    except SecretUnreadable:
        return {}


class ServerForm(SettingsFieldsMixin, forms.ModelForm):
    settings_prefix = "server_setting_"

    class Meta:
        model = Server
        fields = (*PLAIN_FIELDS, "groups")

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        server = self.instance if self.instance.pk else None
        self.fields["module"] = forms.ChoiceField(
            choices=module_choices(server.module if server else ""),
            required=False,
            label="Module",
            help_text="The provisioning module that drives this server. After choosing another one, save: its "
            "credentials and settings appear below.",
        )
        self.module_name = module_chosen(self.data if self.is_bound else None, server.module if server else "")
        module_class = registry.module_class(self.module_name)
        same_module = server is not None and server.module == self.module_name
        stored = _stored_credentials(server) if same_module else {}
        self.credential_names = []
        for setting in module_class.credential_fields if module_class else ():
            name = CREDENTIAL_PREFIX + setting.name
            field = setting_field(setting, stored=stored.get(setting.name))
            if setting.type is not SettingType.SECRET:  # a credential is a secret whatever its declaration says
                field.widget = forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"})
            self.fields[name] = field
            self.credential_names.append(name)
        # Secret server settings are kept with the credentials (encrypted); the others in the plain settings.
        settings_stored = {**((server.settings or {}) if same_module else {}), **stored}
        self.settings_add(module_class.server_settings if module_class else (), settings_stored)

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("module", "") == self.module_name:
            self.settings_clean()
        return cleaned

    def credentials_given(self) -> dict[str, str]:
        return {
            name.removeprefix(CREDENTIAL_PREFIX): self.cleaned_data.get(name) or "" for name in self.credential_names
        }


class ServerChangeList(ChangeList):
    """The accounts each listed server holds, counted for the whole page in one query (accounts_on)."""

    def get_results(self, request):
        super().get_results(request)
        servers = list(self.result_list)
        held = accounts_on([server.pk for server in servers])
        for server in servers:
            server.accounts_held_n = held.get(server.pk, 0)


@admin.register(ServerGroup)
class ServerGroupAdmin(LargeTableAdmin):
    list_display = ("name", "fill_type")
    fields = ("name", "fill_type")


@admin.register(Server)
class ServerAdmin(RefusalsAsMessages, LargeTableAdmin):
    form = ServerForm
    list_display = ("name", "hostname", "ip_address", "module", "accounts", "max_accounts", "is_active", "last_test")
    list_filter = ("is_active", ModuleFilter)
    search_fields = ("name", "hostname")
    filter_horizontal = ("groups",)
    readonly_fields = ("stored_credentials", "accounts_held", "last_test_shown")
    change_form_template = "admin/provisioning/server/change_form.html"

    def get_changelist(self, request, **kwargs):
        return ServerChangeList

    def get_actions(self, request):
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)  # deleting is refused while a server holds accounts: one at a time
        return actions

    def get_fieldsets(self, request, obj=None):
        form_fields = [*PLAIN_FIELDS, "groups"]
        fieldsets = [(None, {"fields": form_fields})]
        module = module_chosen(request.POST if request.method == "POST" else None, obj.module if obj else "")
        module_class = registry.module_class(module)
        if module_class is not None and module_class.credential_fields:
            names = [CREDENTIAL_PREFIX + setting.name for setting in module_class.credential_fields]
            fieldsets.append(("Credentials (never shown again once saved)", {"fields": names}))
        if module_class is not None and module_class.server_settings:
            names = [ServerForm.settings_prefix + setting.name for setting in module_class.server_settings]
            fieldsets.append((f"{module_class.label}: server settings", {"fields": names}))
        if obj is not None:
            fieldsets.append(("State", {"fields": ["stored_credentials", "accounts_held", "last_test_shown"]}))
        return fieldsets

    def get_form(self, request, obj=None, **kwargs):
        kwargs["fields"] = [*PLAIN_FIELDS, "groups"]
        return super().get_form(request, obj, **kwargs)

    @admin.display(description="Accounts")
    def accounts(self, server: Server) -> int:
        return getattr(server, "accounts_held_n", 0)

    @admin.display(description="Last test")
    def last_test(self, server: Server) -> str:
        if server.last_tested_at is None:
            return "never"
        return "ok" if server.last_test_ok else "failed"

    @admin.display(description="Stored credentials")
    def stored_credentials(self, server: Server) -> str:
        try:
            names = server_credentials_names(server)
        except SecretUnreadable:
            return "Stored, but unreadable with the current keys: enter them again."
        return ", ".join(names) if names else "none"

    @admin.display(description="Accounts held")
    def accounts_held(self, server: Server) -> str:
        return f"{accounts_on([server.pk]).get(server.pk, 0)} of at most {server.max_accounts}"

    @admin.display(description="Last connection test")
    def last_test_shown(self, server: Server) -> str:
        if server.last_tested_at is None:
            return "Not tested yet."
        return format_html(
            "{}: {} ({})",
            "ok" if server.last_test_ok else "failed",
            server.last_test_message,
            server.last_tested_at.strftime("%Y-%m-%d %H:%M:%S UTC"),
        )

    def save_model(self, request, obj, form, change) -> None:
        saved = server_save(
            server_id=obj.pk if change else None,
            # Only what the admin changed: a field another admin saved meanwhile is not written back.
            fields={
                name: form.cleaned_data[name]
                for name in PLAIN_FIELDS
                if name in form.cleaned_data and (not change or name in form.changed_data)
            },
            settings=form.cleaned_settings,
            credentials=form.credentials_given(),
            group_ids=[group.pk for group in form.cleaned_data["groups"]]
            if not change or "groups" in form.changed_data
            else None,
            actor=request.user,
        )
        obj.pk = saved.server.pk

    def save_related(self, request, form, formsets, change) -> None:
        for formset in formsets:
            self.save_formset(request, form, formset, change=change)  # the groups were saved by server_save

    def delete_model(self, request, obj) -> None:
        server_delete(server_id=obj.pk, actor=request.user)

    def delete_view(self, request, object_id, extra_context=None):
        server = self.get_object(request, unquote(object_id))
        if server is not None and server_delete_blocker(server=server):
            self.message_user(
                request,
                f"{server} still holds accounts and was not deleted: move or end its services first, or make it "
                "inactive.",
                messages.ERROR,
            )
            return HttpResponseRedirect(reverse("admin:provisioning_server_change", args=[server.pk]))
        try:
            return super().delete_view(request, object_id, extra_context)
        except ValidationError as refused:
            self.message_user(request, " ".join(refused.messages), messages.ERROR)
            return HttpResponseRedirect(reverse("admin:provisioning_server_changelist"))

    def get_urls(self):
        own = [
            path(
                "<id:server_id>/test-connection/",
                self.admin_site.admin_view(self.test_connection_view),
                name="provisioning_server_test_connection",
            )
        ]
        return own + super().get_urls()

    def test_connection_view(self, request: HttpRequest, server_id: int):
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        server = Server.objects.filter(pk=server_id).first()
        if server is None:
            raise Http404
        if not self.has_change_permission(request, server):
            raise PermissionDenied
        tested = server_test_connection(server_id=server.pk, actor=request.user)
        if tested.ok:
            self.message_user(request, f"Connection ok: {tested.message}", messages.SUCCESS)
        else:
            self.message_user(request, f"Connection failed: {tested.message}", messages.ERROR)
        return HttpResponseRedirect(reverse("admin:provisioning_server_change", args=[server.pk]))

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        context["can_test_connection"] = obj is not None and self.has_change_permission(request, obj)
        return super().render_change_form(request, context, add, change, form_url, obj)
