"""The admin of outbound webhooks: endpoints (created and changed through the services, with a reason; the secret
shown once, on the page after creating), and every delivery with its attempts. Registered by notifications.admin.

Permissions: view_ and change_webhookendpoint are Django's own; test_webhookendpoint sends a test event;
redelivering needs change_webhookendpoint. Deliveries and attempts are read-only for everybody."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.template.response import TemplateResponse
from django.utils.html import format_html, format_html_join

from core.admin_lists import LargeTableAdmin
from core.admin_mixins import RefusalsAsMessages
from notifications.audit import audit_for
from notifications.events import EVENTS
from notifications.webhook_models import WebhookAttempt, WebhookDelivery, WebhookEndpoint
from notifications.webhooks import services
from notifications.webhooks.delivery import body_of

AUDIT_SHOWN = 50
ATTEMPTS_SHOWN = 20


class EndpointForm(forms.ModelForm):
    url = forms.URLField(
        max_length=2000, assume_scheme="https", help_text="Where the events are POSTed (http or https)."
    )
    events = forms.MultipleChoiceField(
        choices=[(name, name) for name in EVENTS], required=False, widget=forms.SelectMultiple(attrs={"size": 12})
    )
    reason = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 2}), help_text="Why you make this change: kept in the audit."
    )

    class Meta:
        model = WebhookEndpoint
        fields = ("url", "description", "all_events", "events", "active")

    def clean_url(self) -> str:
        try:
            return services.url_clean(self.cleaned_data.get("url", ""))
        except ValidationError as refused:
            raise ValidationError(refused.message_dict["url"]) from None

    def clean(self):
        cleaned = super().clean()
        try:
            cleaned["events"] = services.events_clean(cleaned.get("events"), bool(cleaned.get("all_events")))
        except ValidationError as refused:
            self.add_error("events", refused.message_dict["events"])
        return cleaned


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(RefusalsAsMessages, LargeTableAdmin):
    form = EndpointForm
    list_display = ("id", "url", "active", "disabled_reason", "subscribed", "failing_since", "description")
    list_filter = ("active",)
    search_fields = ("url", "description")
    readonly_fields = ("disabled_reason", "failing_since", "created_at", "updated_at")
    actions = ["send_test_event"]
    change_form_template = "admin/notifications/webhookendpoint/change_form.html"

    @admin.display(description="events")
    def subscribed(self, endpoint: WebhookEndpoint) -> str:
        if endpoint.all_events:
            return "all events"
        shown = ", ".join(endpoint.events[:5])
        return shown + (f" and {len(endpoint.events) - 5} more" if len(endpoint.events) > 5 else "")

    def has_delete_permission(self, request, obj=None) -> bool:
        return False  # switched off instead, so its deliveries and audit stay readable

    def has_test_permission(self, request) -> bool:
        return request.user.has_perm("notifications.test_webhookendpoint")

    def get_readonly_fields(self, request, obj=None):
        return self.readonly_fields if obj is not None else ()

    def change_view(self, request, object_id, form_url="", extra_context=None):
        extra_context = extra_context or {}
        endpoint = self.get_object(request, object_id)
        if endpoint is not None:
            extra_context["audit"] = list(audit_for(endpoint)[:AUDIT_SHOWN])
            extra_context["recent_deliveries"] = list(
                endpoint.deliveries.order_by("-id").only(
                    "id", "event_type", "status", "attempts", "last_status_code", "created_at", "endpoint_id"
                )[:20]
            )
        return super().change_view(request, object_id, form_url, extra_context)

    def save_model(self, request, obj, form, change) -> None:
        # Not obj.save(): the services lock, validate, write the audit (the secret redacted) and clear the cache.
        data = form.cleaned_data
        fields = {
            "url": data["url"],
            "events": data["events"],
            "all_events": data["all_events"],
            "description": data["description"],
            "active": data["active"],
        }
        if change:
            services.endpoint_change(endpoint_id=obj.pk, **fields, actor=request.user, reason=data["reason"])
            return
        created = services.endpoint_create(**fields, actor=request.user, reason=data["reason"])
        obj.pk = created.endpoint.pk
        request._webhook_secret = created.secret  # for response_add, this response only

    def response_add(self, request, obj, post_url_continue=None):
        secret = getattr(request, "_webhook_secret", None)
        if secret is None:
            return super().response_add(request, obj, post_url_continue)
        # The secret is shown in this response only: never stored in the session, never rendered again.
        return TemplateResponse(
            request,
            "admin/notifications/webhookendpoint/secret.html",
            {**self.admin_site.each_context(request), "endpoint": obj, "secret": secret, "opts": self.opts},
        )

    @admin.action(description="Send a test event", permissions=["test"])
    def send_test_event(self, request, queryset) -> None:
        for endpoint in queryset[:20]:
            try:
                delivery = services.endpoint_test(endpoint_id=endpoint.pk, actor=request.user)
            except ValidationError as refused:
                self.message_user(request, f"{endpoint.url}: {' '.join(refused.messages)}", messages.ERROR)
            else:
                self.message_user(request, f"{endpoint.url}: test event queued as {delivery.webhook_id}.")


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(LargeTableAdmin):
    list_display = ("webhook_id", "event_type", "endpoint", "status", "attempts", "last_status_code", "created_at")
    list_filter = ("status",)
    list_select_related = ("endpoint",)
    search_fields = ("=id", "=event__id")
    raw_id_fields = ("event", "endpoint")
    fields = (
        "webhook_id",
        "event_type",
        "event",
        "endpoint",
        "status",
        "attempts",
        "next_attempt_at",
        "last_status_code",
        "last_error",
        "created_at",
        "finished_at",
        "body",
        "attempts_table",
    )
    readonly_fields = fields
    actions = ["redeliver"]

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("endpoint")

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def has_redeliver_permission(self, request) -> bool:
        return request.user.has_perm("notifications.change_webhookendpoint")

    @admin.display(description="webhook-id")
    def webhook_id(self, delivery: WebhookDelivery) -> str:
        return delivery.webhook_id

    @admin.display(description="body sent (signed as webhook-id.webhook-timestamp.body)")
    def body(self, delivery: WebhookDelivery) -> str:
        return format_html("<pre>{}</pre>", body_of(delivery).decode())

    @admin.display(description=f"attempts (the last {ATTEMPTS_SHOWN})")
    def attempts_table(self, delivery: WebhookDelivery) -> str:
        rows = WebhookAttempt.objects.filter(delivery=delivery).order_by("-id")[:ATTEMPTS_SHOWN]
        body = format_html_join(
            "",
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{} ms</td><td>{}</td><td><code>{}</code></td>"
            "<td><pre>{}</pre></td></tr>",
            (
                (
                    a.attempted_at,
                    a.outcome,
                    a.status_code or "-",
                    a.latency_ms,
                    a.error or "",
                    f"{a.webhook_timestamp} {a.signature}" if a.signature else "",
                    a.response_excerpt,
                )
                for a in rows
            ),
        )
        return format_html(
            "<table><tr><th>when</th><th>outcome</th><th>status</th><th>latency</th><th>error</th>"
            "<th>webhook-timestamp, webhook-signature</th><th>response (excerpt)</th></tr>{}</table>",
            body,
        )

    @admin.action(description="Redeliver (same webhook-id)", permissions=["redeliver"])
    def redeliver(self, request, queryset) -> None:
        for delivery in queryset.order_by("id")[:100]:
            try:
                outcome = services.delivery_redeliver(delivery_id=delivery.pk, actor=request.user)
            except ValidationError as refused:
                self.message_user(request, f"{delivery.webhook_id}: {' '.join(refused.messages)}", messages.ERROR)
                continue
            if outcome == services.Redelivery.BEING_SENT:
                self.message_user(request, f"{delivery.webhook_id} is being sent right now: try again later.")
            else:
                self.message_user(request, f"{delivery.webhook_id} queued for redelivery.")
