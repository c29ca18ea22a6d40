"""The hook switches' admin: every hook (pre-hooks, the project's handlers, the hook packages' hooks) with whether
it is on, switched off or on again only with a reason, through notifications.hook_switches (which writes the
audit, shown on each switch's page)."""

from __future__ import annotations

from django import forms
from django.contrib import admin
from django.utils.html import format_html, format_html_join

from core.admin_mixins import RefusalsAsMessages
from notifications.audit import audit_for
from notifications.hook_models import HookSwitch
from notifications.hook_switches import hook_switch_set, known_hooks

REASON_HELP = "Why you are switching it: kept in the audit."


class HookSwitchOffForm(forms.ModelForm):
    """Adding a switch is switching a hook off."""

    hook = forms.ChoiceField(help_text="The event and the hook to switch off for it.")
    reason = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), help_text=REASON_HELP)

    class Meta:
        model = HookSwitch
        fields = []

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["hook"].choices = [
            (f"{h.event_name} {h.handler}", f"{h.event_name}: {h.handler} ({h.kind})") for h in known_hooks()
        ]


class HookSwitchChangeForm(forms.ModelForm):
    reason = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), help_text=REASON_HELP)

    class Meta:
        model = HookSwitch
        fields = ["enabled"]


@admin.register(HookSwitch)
class HookSwitchAdmin(RefusalsAsMessages, admin.ModelAdmin):
    list_display = ("event_name", "handler", "enabled", "updated_at")
    list_filter = ("enabled",)
    search_fields = ("event_name", "handler")

    def has_add_permission(self, request) -> bool:  # adding a switch is changing a hook: no add_ permission
        return self.has_change_permission(request)

    def has_delete_permission(self, request, obj=None) -> bool:
        return False  # the audit names the row; switch it on again instead

    def get_form(self, request, obj=None, change=False, **kwargs):
        kwargs["form"] = HookSwitchChangeForm if obj is not None else HookSwitchOffForm
        return super().get_form(request, obj, change=change, **kwargs)

    def get_fields(self, request, obj=None):
        return ("event_name", "handler", "enabled", "reason", "audit") if obj else ("hook", "reason")

    def get_readonly_fields(self, request, obj=None):
        return ("event_name", "handler", "audit") if obj else ()

    @admin.display(description="Audit")
    def audit(self, switch: HookSwitch) -> str:
        entries = audit_for(switch)[:50]
        if not entries:
            return "No changes recorded."
        return format_html(
            "<ul>{}</ul>",
            format_html_join(
                "",
                "<li>{} {} {}: {}</li>",
                ((f"{e.created_at:%Y-%m-%d %H:%M}", e.actor_label, e.action, e.reason) for e in entries),
            ),
        )

    def save_model(self, request, obj, form, change) -> None:
        if change:
            event_name, handler, enabled = obj.event_name, obj.handler, form.cleaned_data["enabled"]
        else:
            event_name, handler = form.cleaned_data["hook"].split(" ", 1)
            enabled = False
        outcome = hook_switch_set(
            event_name=event_name,
            handler=handler,
            enabled=enabled,
            reason=form.cleaned_data["reason"],
            actor=request.user,
        )
        if outcome.switch is not None:
            obj.pk = outcome.switch.pk
            obj.refresh_from_db()

    def changelist_view(self, request, extra_context=None):
        """Above the switches: every hook there is, and whether it is on."""
        off = set(HookSwitch.objects.filter(enabled=False).values_list("event_name", "handler"))
        hooks = [(h, (h.event_name, h.handler) not in off) for h in known_hooks()]
        return super().changelist_view(request, extra_context={**(extra_context or {}), "known_hooks": hooks})
