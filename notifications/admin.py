from django.contrib import admin

from core.admin_lists import InputFilter, LargeTableAdmin
from notifications.emails import admin as emails_admin  # noqa: F401 - registers the email templates and emails
from notifications.models import ActivityLog, AuditEntry, Event, HandlerRun


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
    fields = ("handler", "status", "attempts", "finished_at", "last_error")
    readonly_fields = fields
    can_delete = False

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Event)
class EventAdmin(ReadOnlyAdmin):
    list_display = ("id", "name", "created_at", "dispatched_at")
    list_filter = (exact_filter("name", title="event", placeholder="e.g. InvoicePaid"),)
    inlines = [HandlerRunInline]


@admin.register(HandlerRun)
class HandlerRunAdmin(ReadOnlyAdmin):
    list_display = ("event", "handler", "status", "attempts", "finished_at")
    list_filter = ("status", exact_filter("handler", title="handler", placeholder="handler path"))
    list_select_related = ("event",)


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
