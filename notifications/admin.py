from collections import Counter

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import path

from core.admin_lists import InputFilter, LargeTableAdmin
from notifications import hook_admin  # noqa: F401 - registers the hook switches' admin
from notifications.emails import admin as emails_admin  # noqa: F401 - registers the email templates and emails
from notifications.models import ActivityLog, AuditEntry, Event, HandlerRun
from notifications.reactions import KIND_ORDER, trigger_map
from notifications.retries import RetryResult, handler_runs_retry
from notifications.webhooks.reactions import webhook_urls_shortened


class ReadOnlyAdmin(LargeTableAdmin):
    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


def exact_filter(field: str, *, title: str, placeholder: str) -> type[InputFilter]:
    """A text box that filters a column by its exact value. Django's default filter for a column without choices
    lists its distinct values, which reads the whole table on every page view."""
    return type(
        f"{field.title()}Filter",
        (InputFilter,),
        {"title": title, "parameter_name": field, "lookup": field, "placeholder": placeholder},
    )


class HandlerRunInline(admin.TabularInline):
    model = HandlerRun
    extra = 0
    fields = ("handler", "status", "attempts", "next_attempt_at", "finished_at", "last_error")
    readonly_fields = fields
    can_delete = False

    def has_add_permission(self, request, obj=None) -> bool:
        return False


class RetryHandlerRuns:
    """The "Retry" action: runs each selected failed handler again on its event, now (notifications.retries)."""

    def has_retry_permission(self, request) -> bool:
        return request.user.has_perm("notifications.change_handlerrun")

    def _retry(self, request, run_ids: list[int]) -> None:
        outcomes = handler_runs_retry(run_ids=run_ids, actor=request.user)
        if not outcomes:
            self.message_user(request, "No failed handler run was selected.", messages.WARNING)
            return
        counts = Counter(outcome.result.value for outcome in outcomes)
        summary = ", ".join(f"{n} {result}" for result, n in sorted(counts.items()))
        failed = any(outcome.result is RetryResult.FAILED_AGAIN for outcome in outcomes)
        self.message_user(request, f"Retried: {summary}.", messages.WARNING if failed else messages.SUCCESS)


@admin.register(Event)
class EventAdmin(RetryHandlerRuns, ReadOnlyAdmin):
    list_display = ("id", "name", "created_at", "dispatched_at")
    list_filter = (exact_filter("name", title="event", placeholder="e.g. InvoicePaid"),)
    inlines = [HandlerRunInline]
    actions = ["retry_failed_runs"]

    @admin.action(description="Retry the failed handlers of the selected events", permissions=["retry"])
    def retry_failed_runs(self, request, queryset) -> None:
        run_ids = list(
            HandlerRun.objects.filter(event__in=queryset, status=HandlerRun.Status.FAILED).values_list("pk", flat=True)
        )
        self._retry(request, run_ids)

    def get_urls(self):
        own = [
            path(
                "trigger-map/",
                self.admin_site.admin_view(self.trigger_map_view),
                name="notifications_trigger_map",
            )
        ]
        return own + super().get_urls()

    def trigger_map_view(self, request: HttpRequest) -> HttpResponse:
        """Every event and what reacts to it, in the order it runs: the same data as `manage.py trigger_map`."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        entries = trigger_map()
        if not request.user.has_perm("notifications.view_webhookendpoint"):
            entries = webhook_urls_shortened(entries)  # an endpoint's URL may carry a token
        if request.GET.get("reacting"):
            entries = [entry for entry in entries if entry.reactions]
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": "Trigger map",
            "entries": entries,
            "kinds": KIND_ORDER,
            "only_reacting": bool(request.GET.get("reacting")),
        }
        return TemplateResponse(request, "admin/notifications/trigger_map.html", context)


@admin.register(HandlerRun)
class HandlerRunAdmin(RetryHandlerRuns, ReadOnlyAdmin):
    list_display = ("event", "handler", "status", "attempts", "next_attempt", "finished_at")
    list_filter = ("status", exact_filter("handler", title="handler", placeholder="handler path"))
    list_select_related = ("event",)
    readonly_fields = ("event", "handler", "status", "attempts", "next_attempt", "finished_at", "last_error")
    fields = readonly_fields
    actions = ["retry"]

    @admin.display(description="next attempt")
    def next_attempt(self, run: HandlerRun) -> str:
        if run.gave_up:
            return "gave up: retry it by hand"
        return f"{run.next_attempt_at:%Y-%m-%d %H:%M:%S}" if run.next_attempt_at else "-"

    @admin.action(description="Retry the selected failed handler runs now", permissions=["retry"])
    def retry(self, request, queryset) -> None:
        self._retry(request, list(queryset.filter(status=HandlerRun.Status.FAILED).values_list("pk", flat=True)))


@admin.register(ActivityLog)
class ActivityLogAdmin(ReadOnlyAdmin):
    list_display = ("created_at", "actor_label", "action", "message")
    list_filter = (exact_filter("action", title="action", placeholder="e.g. invoice_created"),)
    search_fields = ("message", "actor_label")


@admin.register(AuditEntry)
class AuditEntryAdmin(ReadOnlyAdmin):
    """The governance audit: read-only here, append-only in the database."""

    list_display = ("created_at", "actor_label", "action", "subject_type", "subject_label", "reason")
    list_filter = (exact_filter("subject_type", title="object type", placeholder="e.g. notifications.hookswitch"),)
    search_fields = ("subject_label", "reason", "actor_label")

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


# Outbound webhooks register their own admin (endpoints, deliveries).
from notifications.webhooks import admin as webhooks_admin  # noqa: E402, F401
