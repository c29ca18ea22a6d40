"""The invoice admin: the list, the search by client, the page and its buttons (billing.admin.invoice_actions)."""

from __future__ import annotations

import logging

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Q
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html_join
from django.utils.safestring import mark_safe

from billing.admin.common import (
    ACTION_TEMPLATE,
    CheckedByService,
    ClientIdFilter,
    ReadOnlyInline,
    admin_link,
    money_column,
)
from billing.admin.invoice_actions import INVOICE_ACTIONS
from billing.gateways import GatewayError, GatewayNotAvailable
from billing.models import (
    Client,
    Invoice,
    InvoiceItem,
    InvoiceReminder,
    Transaction,
)
from billing.money import format_rate
from billing.pdf import invoice_pdf, invoice_pdf_filename
from billing.services import invoice_update
from core.admin_lists import LargeTableAdmin
from core.admin_mixins import RefusalsAsMessages
from core.inputs import id_parse

logger = logging.getLogger(__name__)


CLIENT_SEARCH_LIMIT = 200  # clients whose invoices a search by name lists


class InvoiceItemInline(ReadOnlyInline):
    model = InvoiceItem
    fields = ("kind", "description", "amount", "taxed", "period_start", "period_end", "related_id")
    readonly_fields = fields
    verbose_name_plural = "items"


class InvoiceTransactionInline(ReadOnlyInline):
    model = Transaction
    fk_name = "invoice"
    fields = (
        "date",
        "kind",
        "gateway",
        "gateway_transaction_id",
        "amount_in",
        "amount_out",
        "credit_change",
        "fees",
        "actor_label",
        "description",
    )
    readonly_fields = fields
    verbose_name_plural = "transactions"


class InvoiceForm(CheckedByService):
    class Meta:
        model = Invoice
        fields = ("notes",)

    def check(self, changes: dict) -> None:
        pass  # notes are free text; invoice_update checks the row under its lock


@admin.register(Invoice)
class InvoiceAdmin(RefusalsAsMessages, LargeTableAdmin):
    form = InvoiceForm
    list_display = (
        "number_display",
        "client_link",
        "date",
        "due_date",
        "total_display",
        "balance_due_display",
        "status",
    )
    list_filter = ("status", "date", ClientIdFilter)
    list_select_related = ("client", "currency")
    # Only indexed columns sort: sorting a million rows by an unindexed column is a full sort on every page.
    sortable_by = ("number_display", "date")
    ordering = ("-date", "-id")
    search_fields = ("number",)  # searched by get_search_results below
    search_help_text = "An invoice number or its beginning (INV-2026-), #id, or a client's name or email."
    fieldsets = (
        (
            None,
            {"fields": ("number", "client", "status", "currency", "date", "due_date", "paid_at", "email_queued_at")},
        ),
        (
            "Totals",
            {
                "fields": (
                    "subtotal_display",
                    "tax_1_display",
                    "tax_2_display",
                    "credit_applied_display",
                    "total_display",
                    "amount_paid_display",
                    "amount_refunded_display",
                    "balance_due_display",
                    "prices_include_tax",
                )
            },
        ),
        # Shown as text, not inlines: they are the automation run's records, and no form of the page posts them.
        ("Reminders and late fees", {"fields": ("reminders_display", "late_fees_display")}),
        (None, {"fields": ("notes", "created_at")}),
    )
    readonly_fields = (
        "number",
        "client",
        "status",
        "currency",
        "date",
        "due_date",
        "paid_at",
        "email_queued_at",
        "subtotal_display",
        "tax_1_display",
        "tax_2_display",
        "credit_applied_display",
        "total_display",
        "amount_paid_display",
        "amount_refunded_display",
        "balance_due_display",
        "prices_include_tax",
        "reminders_display",
        "late_fees_display",
        "created_at",
    )
    inlines = [InvoiceItemInline, InvoiceTransactionInline]
    change_form_template = "admin/billing/invoice/change_form.html"

    subtotal_display = money_column("subtotal", "Subtotal")
    credit_applied_display = money_column("credit_applied", "Credit applied")
    total_display = money_column("total", "Total")
    amount_paid_display = money_column("amount_paid", "Amount paid")
    amount_refunded_display = money_column("amount_refunded", "Amount refunded")
    balance_due_display = money_column("balance_due", "Balance due")

    def has_add_permission(self, request) -> bool:
        return False  # invoices come from orders, renewals and the services

    def save_model(self, request, obj, form, change) -> None:
        # Not obj.save(), which would write every column back as the page saw it (a payment made meanwhile).
        if changes := form.changes():
            invoice_update(invoice_id=obj.pk, changes=changes, actor=request.user)

    def has_delete_permission(self, request, obj=None) -> bool:
        return False  # an invoice goes with its order (order delete) or is cancelled

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("client", "currency")

    def get_search_results(self, request, queryset, search_term):
        """A number or its beginning, else a client's name or email; never both in one query, which on a
        million rows cannot use an index for either half (an OR across a join is a full scan).

        The number is matched case-sensitively (as typed, and upper-cased) so that PostgreSQL uses the
        number's varchar_pattern_ops index for the prefix; `#123` or `123` also finds the id. When no number
        starts so (one indexed EXISTS), the term is looked up in the clients table (name contains, email
        equals) and the invoices of those clients (at most CLIENT_SEARCH_LIMIT of them, with a warning) are
        listed through the client index."""
        term = search_term.strip()
        if not term:
            return queryset, False
        by_number = Q(number__startswith=term) | Q(number__startswith=term.upper())
        invoice_id = id_parse(term.lstrip("#"))
        if invoice_id is not None:
            by_number |= Q(pk=invoice_id)
        if Invoice.objects.filter(by_number).exists():
            return queryset.filter(by_number), False
        # The ids are fetched first: given a subquery, PostgreSQL misjudges how many clients match and walks
        # the whole date index looking for their invoices.
        client_ids = list(
            Client.objects.filter(
                Q(email__iexact=term) | Q(contact_name__icontains=term) | Q(company_name__icontains=term)
            ).values_list("pk", flat=True)[: CLIENT_SEARCH_LIMIT + 1]
        )
        if len(client_ids) > CLIENT_SEARCH_LIMIT:
            self.message_user(
                request,
                f"More than {CLIENT_SEARCH_LIMIT} clients match {term!r}: the list shows the invoices of "
                f"{CLIENT_SEARCH_LIMIT} of them. Type more of the name, or the email.",
                messages.WARNING,
            )
            client_ids = client_ids[:CLIENT_SEARCH_LIMIT]
        return queryset.filter(client_id__in=client_ids), False

    @admin.display(description="Invoice", ordering="number")
    def number_display(self, invoice: Invoice) -> str:
        if invoice.number:
            return invoice.number
        return f"{'Draft' if invoice.status == Invoice.Status.DRAFT else 'Proforma'} #{invoice.pk}"

    @admin.display(description="Client")
    def client_link(self, invoice: Invoice) -> str:
        return admin_link("admin:billing_client_change", invoice.client_id, invoice.client)

    @admin.display(description="First email queued")
    def email_queued_at(self, invoice: Invoice):
        # sent_at: nothing sends email yet, so it is when the invoice's first email was queued.
        return invoice.sent_at

    @admin.display(description="Tax 1")
    def tax_1_display(self, invoice: Invoice) -> str:
        return _tax_line(invoice, invoice.tax_1_name, invoice.tax_1_rate, invoice.tax_1)

    @admin.display(description="Payment reminders")
    def reminders_display(self, invoice: Invoice) -> str:
        rows = [_reminder_row(reminder) for reminder in invoice.reminders.order_by("level_days")]
        return format_html_join(mark_safe("<br>"), "{} ({}): {} on {}", rows) if rows else "—"

    @admin.display(description="Late fees")
    def late_fees_display(self, invoice: Invoice) -> str:
        rows = [
            (fee.sequence, invoice.currency.format(fee.amount), fee.applied_on)
            for fee in invoice.late_fees.order_by("sequence")
        ]
        return format_html_join(mark_safe("<br>"), "{}. {} added on {}", rows) if rows else "—"

    @admin.display(description="Tax 2")
    def tax_2_display(self, invoice: Invoice) -> str:
        compound = " (compound)" if invoice.tax_compound and invoice.tax_2_name else ""
        return _tax_line(invoice, invoice.tax_2_name, invoice.tax_2_rate, invoice.tax_2) + compound

    # --- custom views ---

    def get_urls(self):
        own = [
            path("<id:invoice_id>/pdf/", self.admin_site.admin_view(self.pdf_view), name="billing_invoice_pdf"),
            path(
                "<id:invoice_id>/actions/<slug:action>/",
                self.admin_site.admin_view(self.action_view),
                name="billing_invoice_action",
            ),
        ]
        return own + super().get_urls()

    def action_buttons(self, invoice: Invoice) -> list[dict[str, str]]:
        return [
            {
                "url": reverse("admin:billing_invoice_action", args=[invoice.pk, slug]),
                "label": action.label,
                "slug": slug,
            }
            for slug, action in INVOICE_ACTIONS.items()
            if action.allowed(invoice)
        ]

    def change_view(self, request, object_id, form_url="", extra_context=None):
        extra_context = extra_context or {}
        invoice = self.get_object(request, object_id)
        if invoice is not None and self.has_change_permission(request, invoice):
            extra_context["invoice_buttons"] = self.action_buttons(invoice)
        return super().change_view(request, object_id, form_url, extra_context)

    def _invoice_for(self, request: HttpRequest, invoice_id: int, *, change: bool) -> Invoice:
        invoice = get_object_or_404(Invoice.objects.select_related("client", "currency"), pk=invoice_id)
        allowed = self.has_change_permission(request, invoice) if change else self.has_view_permission(request, invoice)
        if not allowed:
            raise PermissionDenied
        return invoice

    def action_view(self, request: HttpRequest, invoice_id: int, action: str) -> HttpResponse:
        handler = INVOICE_ACTIONS.get(action)
        if handler is None:
            raise Http404
        invoice = self._invoice_for(request, invoice_id, change=True)
        back = reverse("admin:billing_invoice_change", args=[invoice.pk])
        if request.method != "POST" and not handler.allowed(invoice):
            self.message_user(
                request,
                f"{invoice} is {invoice.get_status_display()}: {handler.label.lower()} is not possible.",
                messages.WARNING,
            )
            return HttpResponseRedirect(back)
        form = handler.form_class(request.POST if request.method == "POST" else None, invoice=invoice)
        if request.method == "POST" and form.is_valid():
            try:
                level, text = handler.perform(invoice, form, actor=request.user)
            except ValidationError as exc:
                form.add_error(None, exc.messages)
            except (GatewayError, GatewayNotAvailable) as exc:
                logger.exception("Admin %s on invoice %s: the gateway failed", action, invoice.pk)
                form.add_error(None, f"The gateway failed and nothing was recorded: {exc}")
            else:
                self.message_user(request, text, level)
                return HttpResponseRedirect(back)
        money = invoice.currency.format
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "original": invoice,
            "title": f"{handler.label}: {invoice}",
            "question": handler.question,
            "summary": [
                ("Client", invoice.client),
                ("Status", invoice.get_status_display()),
                ("Total", money(invoice.total)),
                ("Amount paid", money(invoice.amount_paid)),
                ("Balance due", money(invoice.balance_due)),
                ("Client's credit", money(invoice.client.credit_balance)),
            ],
            "form": form,
            "button_label": handler.label,
            "back_url": back,
        }
        return TemplateResponse(request, ACTION_TEMPLATE, context)

    def pdf_view(self, request: HttpRequest, invoice_id: int) -> HttpResponse:
        invoice = self._invoice_for(request, invoice_id, change=False)
        response = HttpResponse(invoice_pdf(invoice), content_type="application/pdf")
        response["Content-Disposition"] = f'attachment; filename="{invoice_pdf_filename(invoice)}"'
        return response


def _reminder_row(reminder: InvoiceReminder) -> tuple:
    outcome = "skipped" if reminder.skipped else "email queued"
    return (reminder.template, _level_label(reminder.level_days), outcome, reminder.sent_on)


def _level_label(days: int) -> str:
    """A reminder level as a reader says it: 7 days before due, on the due date, 1 day overdue."""
    count = f"{abs(days)} day{'' if abs(days) == 1 else 's'}"
    if days < 0:
        return f"{count} before due"
    return f"{count} overdue" if days else "on the due date"


def _tax_line(invoice: Invoice, name: str, rate, amount) -> str:
    if not name and not amount:
        return "—"
    return f"{name or 'Tax'} {format_rate(rate)}: {invoice.currency.format(amount)}"
