from django.contrib import admin

from notifications.models import ActivityLog, Event, HandlerRun, OutboundEmail


class ReadOnlyAdmin(admin.ModelAdmin):
    show_full_result_count = False

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


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
    list_filter = ("name",)
    inlines = [HandlerRunInline]


@admin.register(HandlerRun)
class HandlerRunAdmin(ReadOnlyAdmin):
    list_display = ("event", "handler", "status", "attempts", "finished_at")
    list_filter = ("status", "handler")
    list_select_related = ("event",)


@admin.register(ActivityLog)
class ActivityLogAdmin(ReadOnlyAdmin):
    list_display = ("created_at", "actor_label", "action", "message")
    list_filter = ("action",)
    search_fields = ("message", "actor_label")


@admin.register(OutboundEmail)
class OutboundEmailAdmin(ReadOnlyAdmin):
    list_display = ("created_at", "template", "to_address", "status")
    list_filter = ("status", "template")
