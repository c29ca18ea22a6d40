"""The module queue's admin: every module call with its outcome (read only; its request and response excerpts are
redacted when recorded), "Retry" and "Mark resolved" for the calls that wait for an admin, each behind its own
permission and carried out by provisioning.queue.actions; and the to-dos calls left for a person, open first,
with "Mark done"."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.core.exceptions import ValidationError
from django.db.models import F
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.html import format_html

from core.admin_lists import LargeTableAdmin, PositiveIdFilter
from provisioning.models import ModuleCall, ModuleTodo, Service
from provisioning.modules import registry
from provisioning.queue.actions import CallMove, module_calls_resolve, module_calls_retry, module_todos_done

CALL_FIELDS = (
    "subject_link",
    "server",
    "module",
    "action",
    "status",
    "attempts",
    "idempotency_key",
    "error",
    "error_transient",
    "next_attempt_at",
    "result",
    "request_excerpt",
    "response_excerpt",
    "duration_ms",
    "requested_by",
    "created_at",
    "started_at",
    "finished_at",
    "resolved_by",
    "resolution_note",
)


class ModuleFilter(admin.SimpleListFilter):
    """The registered modules (listing the column's values would read the whole table)."""

    title = "module"
    parameter_name = "module"

    def lookups(self, request, model_admin):
        return registry.choices()

    def queryset(self, request, queryset):
        return queryset.filter(module=self.value()) if self.value() else queryset


class ServiceIdFilter(PositiveIdFilter):
    title = "service"
    parameter_name = "service"
    lookup = "service_id"
    placeholder = "service id"
    target = Service


class ResolveForm(forms.Form):
    note = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3}),
        label="How was it settled?",
        help_text="Required: kept on each call and in the activity log (for example: the account was created by hand).",
    )


class ExpiryDateForm(forms.Form):
    expiry_date = forms.DateField(
        label="New expiry date",
        widget=forms.DateInput(attrs={"type": "date"}),
        help_text="As the registry shows it after you registered, transferred or renewed the domain by hand.",
    )


def _error_excerpt(text: str, length: int = 120) -> str:
    return text if len(text) <= length else text[: length - 1] + "…"


@admin.register(ModuleCall)
class ModuleCallAdmin(LargeTableAdmin):
    list_display = (
        "id",
        "status",
        "action",
        "module",
        "service",
        "domain",
        "server",
        "attempts",
        "error_short",
        "created_at",
        "finished_at",
    )
    list_filter = ("status", "action", ModuleFilter, ServiceIdFilter)
    list_select_related = ("service__product", "domain", "server")
    fields = CALL_FIELDS
    readonly_fields = CALL_FIELDS
    actions = ["retry", "resolve"]

    def has_add_permission(self, request) -> bool:
        return False  # calls are asked for by the services

    def has_change_permission(self, request, obj=None) -> bool:
        return False  # read only: Retry and Mark resolved are the only hands on a call

    def has_delete_permission(self, request, obj=None) -> bool:
        return False  # the record of what was asked of a server stays

    def has_retry_permission(self, request) -> bool:
        return request.user.has_perm("provisioning.retry_modulecall")

    def has_resolve_permission(self, request) -> bool:
        return request.user.has_perm("provisioning.resolve_modulecall")

    @admin.display(description="error")
    def error_short(self, call: ModuleCall) -> str:
        return _error_excerpt(call.error)

    @admin.display(description="service or domain")
    def subject_link(self, call: ModuleCall) -> str:
        if call.domain_id is not None:
            url = reverse("admin:provisioning_domain_change", args=[call.domain_id])
            return format_html('<a href="{}">{}</a>', url, call.domain)
        url = reverse("admin:provisioning_service_change", args=[call.service_id])
        return format_html('<a href="{}">{}</a>', url, call.service)

    def _tell(self, request, moved, done_words: str, move: CallMove) -> None:
        done = [m.call_id for m in moved if m.move is move]
        left = [m.call_id for m in moved if m.move is not move]
        if done:
            self.message_user(request, f"{done_words}: {', '.join(f'#{pk}' for pk in done)}.", messages.SUCCESS)
        if left:
            self.message_user(
                request,
                f"Left as they were (not failed or waiting to retry): {', '.join(f'#{pk}' for pk in left)}.",
                messages.WARNING,
            )

    @admin.action(description="Retry the selected failed calls now", permissions=["retry"])
    def retry(self, request, queryset) -> None:
        ids = list(queryset.order_by("pk").values_list("pk", flat=True))
        moved = module_calls_retry(call_ids=ids, actor=request.user)
        self._tell(request, moved, "Queued again", CallMove.RETRIED)

    @admin.action(description="Mark the selected failed calls resolved (settled by hand)", permissions=["resolve"])
    def resolve(self, request, queryset):
        ids = list(queryset.order_by("pk").values_list("pk", flat=True))
        form = ResolveForm(request.POST if "confirm" in request.POST else None)
        if form.is_bound and form.is_valid():
            try:
                moved = module_calls_resolve(call_ids=ids, actor=request.user, note=form.cleaned_data["note"])
            except ValidationError as refused:
                form.add_error("note", refused)
            else:
                self._tell(request, moved, "Marked resolved", CallMove.RESOLVED)
                return None
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": "Mark module calls resolved",
            "calls": queryset.select_related("service__product").order_by("pk")[:100],
            "ids": ids,
            "form": form,
            "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
        }
        return TemplateResponse(request, "admin/provisioning/modulecall/resolve.html", context)


class TodoStateFilter(admin.SimpleListFilter):
    title = "state"
    parameter_name = "state"

    def lookups(self, request, model_admin):
        return [("open", "Open"), ("done", "Done")]

    def queryset(self, request, queryset):
        if self.value() == "open":
            return queryset.filter(done_at__isnull=True)
        if self.value() == "done":
            return queryset.filter(done_at__isnull=False)
        return queryset


@admin.register(ModuleTodo)
class ModuleTodoAdmin(LargeTableAdmin):
    list_display = ("text", "service", "domain", "created_at", "done_at", "done_by")
    list_filter = (TodoStateFilter,)
    list_select_related = ("service__product", "domain", "done_by")
    ordering = (F("done_at").asc(nulls_first=True), "-id")  # open first, newest first
    fields = ("text", "service", "domain", "call", "created_at", "done_at", "done_by")
    readonly_fields = fields
    actions = ["mark_done"]

    def has_add_permission(self, request) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def get_actions(self, request):
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)
        return actions

    @admin.action(description="Mark the selected to-dos done", permissions=["change"])
    def mark_done(self, request, queryset):
        ids = list(queryset.order_by("pk").values_list("pk", flat=True))
        form = ExpiryDateForm(request.POST if "confirm" in request.POST else None)
        expiry_date = form.cleaned_data["expiry_date"] if form.is_bound and form.is_valid() else None
        outcome = module_todos_done(todo_ids=ids, actor=request.user, expiry_date=expiry_date)
        if outcome.done:
            self.message_user(request, f"{outcome.done} to-do(s) marked done.", messages.SUCCESS)
        if not outcome.needs_expiry:
            return None
        # A domain's registration, transfer or renewal is done only with the expiry date the registry gave.
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": "The new expiry date",
            "todos": ModuleTodo.objects.filter(pk__in=outcome.needs_expiry).select_related("domain").order_by("pk"),
            "ids": outcome.needs_expiry,
            "form": form,
            "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
        }
        return TemplateResponse(request, "admin/provisioning/moduletodo/expiry_date.html", context)

    def save_model(self, request, obj, form, change) -> None:
        return  # nothing on a to-do is edited here; "Mark done" is the action
