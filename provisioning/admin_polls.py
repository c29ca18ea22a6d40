"""The registrar polls in the admin, read only: each reading of a registrar account's message queue with its
outcome (a failed one keeps the registry's error: Provisioning > Registrar polls, filtered by status), and each
message read, with what it did to which domain. Written only by the poll (provisioning.queue.registrar_poll)."""

from __future__ import annotations

from django.contrib import admin
from django.urls import reverse
from django.utils.html import format_html

from notifications.admin import ReadOnlyAdmin
from provisioning.models import RegistrarPoll, RegistrarPollMessage


class ReadOnly(ReadOnlyAdmin):
    def has_delete_permission(self, request, obj=None) -> bool:
        return False  # a poll's record is the registry's answer: kept


@admin.register(RegistrarPoll)
class RegistrarPollAdmin(ReadOnly):
    list_display = ("__str__", "config", "status", "messages_read", "messages_left", "finished_at", "error_start")
    list_filter = ("status", "config")
    list_select_related = ("config",)
    fields = (
        "config",
        "status",
        "created_at",
        "started_at",
        "finished_at",
        "messages_read",
        "messages_left",
        "error",
        "messages_link",
    )
    readonly_fields = fields

    @admin.display(description="error")
    def error_start(self, poll: RegistrarPoll) -> str:
        return poll.error[:200]

    @admin.display(description="messages read")
    def messages_link(self, poll: RegistrarPoll) -> str:
        url = reverse("admin:provisioning_registrarpollmessage_changelist") + f"?poll__id__exact={poll.pk}"
        return format_html('<a href="{}">the messages this poll read</a>', url)


@admin.register(RegistrarPollMessage)
class RegistrarPollMessageAdmin(ReadOnly):
    list_display = ("message_id", "config", "queued_at", "domain_name", "transfer_status", "outcome", "acked_at")
    list_filter = ("outcome", "config")
    list_select_related = ("config",)
    search_fields = ("=domain_name", "=message_id")
    fields = (
        "config",
        "poll",
        "message_id",
        "queued_at",
        "text",
        "domain_name",
        "transfer_status",
        "expiry_date",
        "domain_link",
        "outcome",
        "recorded_at",
        "acked_at",
    )
    readonly_fields = fields

    @admin.display(description="domain")
    def domain_link(self, message: RegistrarPollMessage) -> str:
        if message.domain_id is None:
            return "none of ours"
        url = reverse("admin:provisioning_domain_change", args=[message.domain_id])
        return format_html('<a href="{}">{}</a>', url, message.domain_name or f"#{message.domain_id}")
