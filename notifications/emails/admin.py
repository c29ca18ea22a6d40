"""The admin of emails: templates (edited through email_template_update, with a reason, the audit and a preview
on sample data) and the emails themselves (read-only; a failed one has a retry button)."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join
from django.views.decorators.http import require_POST

from core.admin_lists import InputFilter, LargeTableAdmin
from core.admin_mixins import RefusalsAsMessages
from notifications.audit import audit_for
from notifications.emails.catalog import COMMON_VARIABLES, template_spec
from notifications.emails.sending import email_retry
from notifications.emails.templates import EDITABLE, email_template_check, email_template_preview, email_template_update
from notifications.models import EmailTemplate, OutboundEmail

AUDIT_SHOWN = 50


def audit_table(obj) -> str:
    """The object's audit, newest first, for a read-only field of its page."""
    entries = list(audit_for(obj)[:AUDIT_SHOWN]) if obj is not None and obj.pk else []
    if not entries:
        return "No changes recorded."
    rows = format_html_join(
        "",
        "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td><code>{}</code></td><td><code>{}</code></td></tr>",
        ((e.created_at, e.actor_label, e.action, e.reason, e.before, e.after) for e in entries),
    )
    return format_html(
        "<table><thead><tr><th>When</th><th>Who</th><th>What</th><th>Why</th><th>Before</th><th>After</th></tr>"
        "</thead><tbody>{}</tbody></table>",
        rows,
    )


class EmailTemplateForm(forms.ModelForm):
    reason = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="Why you are making this change: it is kept in the audit.",
    )

    class Meta:
        model = EmailTemplate
        fields = EDITABLE

    def clean(self):
        cleaned = super().clean()
        try:  # the service checks again under its lock; here the admin sees each part's error beside it
            email_template_check(self.instance, {name: cleaned[name] for name in EDITABLE if name in cleaned})
        except ValidationError as refused:
            for field, errors in refused.message_dict.items():
                self.add_error(field if field in self.fields else None, errors)
        return cleaned


@admin.register(EmailTemplate)
class EmailTemplateAdmin(RefusalsAsMessages, LargeTableAdmin):
    form = EmailTemplateForm
    list_display = ("name", "event", "enabled", "subject", "updated_at")
    list_filter = ("enabled",)
    search_fields = ("name", "event", "subject")
    readonly_fields = ("name", "event", "variables", "preview", "audit")
    fieldsets = (
        (None, {"fields": ("name", "event", "description", "enabled")}),
        ("Texts (Django template syntax)", {"fields": ("variables", "subject", "body_text", "body_html")}),
        ("Preview on sample data", {"fields": ("preview",)}),
        ("Reason", {"fields": ("reason",)}),
        ("Audit", {"fields": ("audit",)}),
    )

    def has_add_permission(self, request) -> bool:
        return False  # the templates are the catalog's (notifications.emails.catalog); the seed writes them

    def has_delete_permission(self, request, obj=None) -> bool:
        return False  # switch one off instead: its emails are recorded as skipped

    @admin.display(description="Variables it may use")
    def variables(self, obj: EmailTemplate) -> str:
        samples = template_spec(obj.name, obj.event).samples() if obj else COMMON_VARIABLES
        return format_html_join(", ", "<code>{}</code> (e.g. {})", sorted(samples.items()))

    @admin.display(description="Preview")
    def preview(self, obj: EmailTemplate) -> str:
        try:
            rendered = email_template_preview(template=obj)
        except ValidationError as refused:
            return format_html("<p>Does not render: {}</p>", "; ".join(refused.messages))
        return format_html(
            '<p><strong>Subject:</strong> {}</p><pre>{}</pre><p><a href="{}">The HTML part</a></p>',
            rendered.subject,
            rendered.body_text,
            reverse("admin:notifications_emailtemplate_preview_html", args=[obj.pk]),
        )

    @admin.display(description="Audit")
    def audit(self, obj: EmailTemplate) -> str:
        return audit_table(obj)

    def get_urls(self):
        own = [
            path(
                "<id:template_id>/preview/",
                self.admin_site.admin_view(self.preview_html_view),
                name="notifications_emailtemplate_preview_html",
            )
        ]
        return own + super().get_urls()

    def preview_html_view(self, request: HttpRequest, template_id: int) -> HttpResponse:
        template = get_object_or_404(EmailTemplate, pk=template_id)
        if not (
            self.has_view_permission(request, template) or request.user.has_perm("notifications.test_emailtemplate")
        ):
            raise PermissionDenied
        try:
            html = email_template_preview(template=template).body_html
        except ValidationError as refused:
            html = "<p>Does not render: " + "; ".join(refused.messages).replace("<", "&lt;") + "</p>"
        response = HttpResponse(html, content_type="text/html; charset=utf-8")
        response["Content-Security-Policy"] = "sandbox; default-src 'none'; style-src 'unsafe-inline'; img-src data:"
        return response

    def save_model(self, request, obj, form, change) -> None:
        # Not obj.save(): the service locks the row, checks the texts again and writes the audit.
        changes = {name: form.cleaned_data[name] for name in EDITABLE if name in form.cleaned_data}
        email_template_update(
            template_id=obj.pk, changes=changes, reason=form.cleaned_data["reason"], actor=request.user
        )
        obj.refresh_from_db()


class ClientIdFilter(InputFilter):
    title = "client id"
    parameter_name = "client_id"
    lookup = "client_id"
    placeholder = "e.g. 42"

    def clean(self, value: str):
        return int(value) if value.isdigit() else None


class TemplateFilter(InputFilter):
    title = "template"
    parameter_name = "template"
    lookup = "template"
    placeholder = "e.g. service_welcome"


@admin.register(OutboundEmail)
class OutboundEmailAdmin(LargeTableAdmin):
    list_display = ("created_at", "template", "to_address", "status", "attempts", "sent_at")
    list_filter = ("status", TemplateFilter, ClientIdFilter)
    search_fields = ("to_address",)
    actions = ["retry_selected"]
    change_form_template = "admin/notifications/outboundemail/change_form.html"
    fields = (
        *("template", "to_address", "client_id", "status", "attempts", "last_error", "next_attempt_at"),
        *("created_at", "sent_at", "message_id", "idempotency_key", "subject", "body_text", "context", "attachments"),
    )
    readonly_fields = fields

    def has_add_permission(self, request) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def get_urls(self):
        own = [
            path(
                "<id:email_id>/retry/",
                self.admin_site.admin_view(require_POST(self.retry_view)),
                name="notifications_outboundemail_retry",
            )
        ]
        return own + super().get_urls()

    def change_view(self, request, object_id, form_url="", extra_context=None):
        email = self.get_object(request, object_id)
        extra_context = {
            **(extra_context or {}),
            "show_save": False,
            "show_save_and_continue": False,
            "show_save_and_add_another": False,
        }
        if email is not None and email.status == OutboundEmail.Status.FAILED and self.has_change_permission(request):
            extra_context["retry_url"] = reverse("admin:notifications_outboundemail_retry", args=[email.pk])
        return super().change_view(request, object_id, form_url, extra_context)

    def retry_view(self, request: HttpRequest, email_id: int) -> HttpResponse:
        if not self.has_change_permission(request):
            raise PermissionDenied
        get_object_or_404(OutboundEmail, pk=email_id)
        try:
            email = email_retry(email_id=email_id, actor=request.user)
        except ValidationError as refused:
            self.message_user(request, " ".join(refused.messages), messages.ERROR)
        else:
            self.message_user(
                request, f"Email #{email.pk} is queued again; it is sent after this page.", messages.SUCCESS
            )
        return HttpResponseRedirect(reverse("admin:notifications_outboundemail_change", args=[email_id]))

    @admin.action(description="Retry the selected failed emails", permissions=["change"])
    def retry_selected(self, request, queryset) -> None:
        failed = list(queryset.filter(status=OutboundEmail.Status.FAILED).values_list("pk", flat=True)[:500])
        retried, refusals = 0, []
        for email_id in failed:
            try:  # each on its own: one that stopped being failed meanwhile (or cannot be retried) is named
                email_retry(email_id=email_id, actor=request.user)
            except ValidationError as refused:
                refusals.append(" ".join(refused.messages))
            else:
                retried += 1
        self.message_user(request, f"{retried} failed email(s) queued again.", messages.SUCCESS)
        if refusals:
            self.message_user(request, f"Not retried: {' '.join(refusals)}", messages.WARNING)

    def save_model(self, request, obj, form, change) -> None:
        raise PermissionDenied  # nothing of an email is edited; "change" is the permission to retry one
