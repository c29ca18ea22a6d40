"""The billing admin. Every button that changes money or a status calls a service (the rules live there); a
refusal comes back as a form error and changes nothing. No list counts its table in full: see
core.admin_lists.BoundedCountPaginator."""

from __future__ import annotations

import logging
from collections.abc import Callable

from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Q
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe
from django_fsm import can_proceed

from billing.forms import (
    ApplyCreditForm,
    AutomationSettingsForm,
    BillingSettingsForm,
    ConfirmForm,
    CreditChangeForm,
    PaymentForm,
    ReasonForm,
    RefundForm,
    gateway_config_form_for,
    setting_field_names,
)
from billing.gateways import GATEWAY_CLASSES, GatewayError, GatewayNotAvailable
from billing.models import (
    AutomationSettings,
    BillingSettings,
    Client,
    Currency,
    GatewayConfig,
    GatewayEvent,
    Invoice,
    InvoiceItem,
    InvoiceReminder,
    LateFee,
    TaxRule,
    Transaction,
)
from billing.money import format_rate
from billing.pdf import invoice_pdf, invoice_pdf_filename
from billing.services import (
    automation_settings_update,
    credit_add,
    credit_apply,
    credit_remove,
    invoice_cancel,
    invoice_issue,
    invoice_send,
    invoice_send_to_collections,
    payment_record,
)
from billing.services.gateway_events import gateway_event_apply, payment_refund
from core.admin_lists import InputFilter, LargeTableAdmin, PositiveIdFilter
from core.admin_mixins import SaveChangedFieldsOnly
from core.inputs import id_parse
from notifications.models import ActivityLog

logger = logging.getLogger(__name__)

ACTION_TEMPLATE = "admin/billing/action_form.html"
RECENT = 20  # rows of each kind on a client's page
CLIENT_SEARCH_LIMIT = 200  # clients whose invoices a search by name lists


def money_column(field_name: str, description: str):
    """A read-only column or field showing a money field in the row's currency (the row selects its currency)."""

    @admin.display(description=description)
    def column(self, obj) -> str:
        return obj.currency.format(getattr(obj, field_name))

    column.__name__ = f"{field_name}_display"
    return column


def _admin_link(url_name: str, pk: int | None, text) -> str:
    if pk is None:
        return "—"
    return format_html('<a href="{}">{}</a>', reverse(url_name, args=[pk]), text)


class ClientIdFilter(PositiveIdFilter):
    """Filter by client id from a text box: a list of 100k clients in the sidebar would load them all."""

    title = "client"
    parameter_name = "client"
    lookup = "client_id"
    placeholder = "client id"
    target = Client


class GatewayCodeFilter(admin.SimpleListFilter):
    """The implemented gateways: listing the column's distinct values would read the whole table."""

    title = "gateway"
    parameter_name = "gateway"

    def lookups(self, request, model_admin):
        return [(code, cls.default_name) for code, cls in GATEWAY_CLASSES.items()]

    def queryset(self, request, queryset):
        return queryset.filter(gateway=self.value()) if self.value() else queryset


class ReadOnlyInline(admin.TabularInline):
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


# --- currencies and clients ------------------------------------------------------------------------------------


@admin.register(Currency)
class CurrencyAdmin(LargeTableAdmin):
    list_display = ("code", "prefix", "suffix", "decimal_places", "exchange_rate", "is_default")


# Every client has a log-in, so the users' list grows with the clients: Django's own admin with a bounded count.
admin.site.unregister(get_user_model())


@admin.register(get_user_model())
class UserAdmin(LargeTableAdmin, DjangoUserAdmin):
    pass


class CountryFilter(InputFilter):
    """Typed, not listed: the distinct countries of 100k clients would be read on every page."""

    title = "country"
    parameter_name = "country"
    lookup = "country"
    placeholder = "e.g. DE"

    def clean(self, value: str):
        value = value.upper()
        return value if len(value) == 2 and value.isalpha() else None

    def describe(self, country: str) -> str:
        return f"Clients in {country}."


CREDIT_DIRECTIONS = {
    # url part -> (button label, service, verb for the message)
    "add": ("Add credit", credit_add, "added to"),
    "remove": ("Remove credit", credit_remove, "removed from"),
}


@admin.register(Client)
class ClientAdmin(SaveChangedFieldsOnly, LargeTableAdmin):
    list_display = ("contact_name", "company_name", "email", "country", "currency", "credit_display", "status")
    list_filter = ("status", CountryFilter, "currency")
    list_select_related = ("currency",)
    ordering = ("-id",)  # newest first, on the primary key: sorting 100k clients by name costs a full sort
    search_fields = ("contact_name", "company_name", "email")
    readonly_fields = ("status", "credit_balance", "created_at")
    raw_id_fields = ("user",)
    change_form_template = "admin/billing/client/change_form.html"

    credit_display = money_column("credit_balance", "Credit balance")

    def get_urls(self):
        own = [
            path(
                "<id:client_id>/credit/<slug:direction>/",
                self.admin_site.admin_view(self.credit_view),
                name="billing_client_credit",
            ),
        ]
        return own + super().get_urls()

    def change_view(self, request, object_id, form_url="", extra_context=None):
        extra_context = extra_context or {}
        client = self.get_object(request, object_id)
        if client is not None:
            extra_context.update(client_summary(client))
            extra_context["credit_buttons"] = [
                {
                    "url": reverse("admin:billing_client_credit", args=[client.pk, direction]),
                    "label": label,
                    "direction": direction,
                }
                for direction, (label, _service, _verb) in CREDIT_DIRECTIONS.items()
                if self.has_change_permission(request, client) and (direction == "add" or client.credit_balance > 0)
            ]
        return super().change_view(request, object_id, form_url, extra_context)

    def credit_view(self, request: HttpRequest, client_id: int, direction: str) -> HttpResponse:
        if direction not in CREDIT_DIRECTIONS:
            raise Http404
        label, service, verb = CREDIT_DIRECTIONS[direction]
        client = get_object_or_404(Client.objects.select_related("currency"), pk=client_id)
        if not self.has_change_permission(request, client):
            raise PermissionDenied
        back = reverse("admin:billing_client_change", args=[client.pk])
        form = CreditChangeForm(request.POST if request.method == "POST" else None, client=client)
        if request.method == "POST" and form.is_valid():
            amount, reason = form.cleaned_data["amount"], form.cleaned_data["reason"]
            try:
                service(client_id=client.pk, amount=amount, reason=reason, actor=request.user)
            except ValidationError as exc:
                form.add_error(None, exc.messages)
            else:
                client.refresh_from_db(fields=["credit_balance"])
                self.message_user(
                    request,
                    f"{client.currency.format(amount)} {verb} the credit of {client}; "
                    f"the balance is now {client.currency.format(client.credit_balance)}.",
                    messages.SUCCESS,
                )
                return HttpResponseRedirect(back)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "original": client,
            "title": f"{label}: {client}",
            "summary": [("Credit balance", client.currency.format(client.credit_balance))],
            "form": form,
            "button_label": label,
            "back_url": back,
        }
        return TemplateResponse(request, ACTION_TEMPLATE, context)


CREDIT_KINDS_NOTE = "Every movement of the credit balance: credit added, removed, applied, overpayments, refunds."


def client_summary(client: Client) -> dict:
    """What the client's page shows below the form: the latest rows of each kind, a fixed number of queries.

    Services, domains and orders live in apps above billing, reached through their reverse relations so that
    billing imports none of them."""
    return {
        "recent_invoices": list(client.invoices.select_related("currency").order_by("-date", "-id")[:RECENT]),
        "recent_services": list(client.services.select_related("product", "currency").order_by("-id")[:RECENT]),
        "recent_domains": list(client.domains.order_by("-id")[:RECENT]),
        "recent_orders": list(client.orders.select_related("currency").order_by("-created_at", "-id")[:RECENT]),
        "credit_history": list(
            client.transactions.exclude(credit_change=0)
            .select_related("currency", "invoice")
            .order_by("-date", "-id")[:RECENT]
        ),
        "credit_history_note": CREDIT_KINDS_NOTE,
        "recent_activity": list(
            ActivityLog.objects.filter(client_id=client.pk).order_by("-created_at", "-id")[:RECENT]
        ),
        "recent_limit": RECENT,
    }


# --- invoices --------------------------------------------------------------------------------------------------


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


class InvoiceAction:
    """A button on the invoice page: a small form, then one service call. `allowed` only decides whether the
    button shows; the service decides, under the invoice's lock, whether the action happens."""

    slug: str
    label: str
    question: str = ""
    form_class: type[ConfirmForm] = ConfirmForm

    def allowed(self, invoice: Invoice) -> bool:
        raise NotImplementedError

    def perform(self, invoice: Invoice, form, *, actor) -> tuple[int, str]:
        """Do it; returns the message level and text. Raises ValidationError when the service refuses."""
        raise NotImplementedError


class IssueAction(InvoiceAction):
    slug, label = "issue", "Issue"
    question = "Issue this draft? It becomes Unpaid and gets its number; it can no longer be edited as a draft."

    def allowed(self, invoice):
        return can_proceed(invoice.publish)

    def perform(self, invoice, form, *, actor):
        invoice = invoice_issue(invoice_id=invoice.pk, actor=actor)
        return messages.SUCCESS, f"{invoice} issued."


class PaymentAction(InvoiceAction):
    slug, label = "payment", "Add payment"
    question = "Record money received for this invoice. What exceeds the balance due becomes client credit."
    form_class = PaymentForm

    def allowed(self, invoice):
        return invoice.status in Invoice.PAYABLE_STATUSES

    def perform(self, invoice, form, *, actor):
        data = form.cleaned_data
        outcome = payment_record(
            invoice_id=invoice.pk,
            amount=data["amount"],
            gateway=data["gateway"],
            gateway_transaction_id=data["gateway_transaction_id"],
            fees=data["fees"],
            paid_at=form.paid_at(),
            actor=actor,
        )
        if not outcome.created:
            return messages.WARNING, (
                f"{data['gateway']} transaction {data['gateway_transaction_id']} was recorded before "
                f"(on {outcome.transaction.invoice or 'no invoice'}): nothing was changed."
            )
        paid = outcome.invoice
        return messages.SUCCESS, (
            f"{paid.currency.format(data['amount'])} recorded on {paid}; it is {paid.get_status_display()} "
            f"with {paid.currency.format(paid.balance_due)} due."
        )


class RefundAction(InvoiceAction):
    slug, label = "refund", "Refund"
    question = "Send (part of) a payment back. When everything paid has gone back, the invoice becomes Refunded."
    form_class = RefundForm

    def allowed(self, invoice):
        return invoice.status == Invoice.Status.PAID and invoice.amount_paid > 0

    def perform(self, invoice, form, *, actor):
        data = form.cleaned_data
        refund = payment_refund(
            payment_id=data["payment"].pk,
            amount=data["amount"],
            method=data["method"],
            actor=actor,
            reason=data["reason"],
        )
        invoice.refresh_from_db(fields=["status", "amount_refunded"])
        return messages.SUCCESS, (
            f"{invoice.currency.format(refund.amount_out)} refunded on {invoice} ({refund.gateway}); "
            f"it is {invoice.get_status_display()}."
        )


class ReasonedTransition(InvoiceAction):
    form_class = ReasonForm
    service: Callable[..., Invoice]  # the service, as a staticmethod
    transition_name: str  # the Invoice transition it runs, for `allowed`

    def allowed(self, invoice):
        return can_proceed(getattr(invoice, self.transition_name))

    def perform(self, invoice, form, *, actor):
        moved = self.service(invoice_id=invoice.pk, actor=actor, reason=form.cleaned_data["reason"])
        return messages.SUCCESS, f"{moved} is now {moved.get_status_display()}."


class CancelAction(ReasonedTransition):
    slug, label = "cancel", "Cancel invoice"
    question = "Cancel this invoice? Credit applied and partial payments go back to the client's credit."
    service = staticmethod(invoice_cancel)
    transition_name = "cancel"


class CollectionsAction(ReasonedTransition):
    slug, label = "collections", "Mark collections"
    question = "Send this invoice to collections? It stays payable."
    service = staticmethod(invoice_send_to_collections)
    transition_name = "send_to_collections"


class ResendAction(InvoiceAction):
    slug, label = "resend", "Resend"
    question = "Queue an email of this invoice to the client again?"

    def allowed(self, invoice):
        return invoice.status != Invoice.Status.DRAFT

    def perform(self, invoice, form, *, actor):
        queued = invoice_send(invoice_id=invoice.pk, actor=actor)
        return messages.SUCCESS, f"Email of {queued} to {queued.client.email} queued."


class ApplyCreditAction(InvoiceAction):
    slug, label = "credit", "Apply credit"
    question = "Pay (part of) this invoice from the client's credit balance."
    form_class = ApplyCreditForm

    def allowed(self, invoice):
        return invoice.is_payable and invoice.client.credit_balance > 0

    def perform(self, invoice, form, *, actor):
        entry = credit_apply(invoice_id=invoice.pk, amount=form.cleaned_data["amount"], actor=actor)
        invoice.refresh_from_db(fields=["status", "balance_due", "credit_applied"])
        return messages.SUCCESS, (
            f"{invoice.currency.format(-entry.credit_change)} credit applied to {invoice}; "
            f"{invoice.currency.format(invoice.balance_due)} due, {invoice.get_status_display()}."
        )


INVOICE_ACTIONS: dict[str, InvoiceAction] = {
    action.slug: action
    for action in (
        IssueAction(),
        PaymentAction(),
        ApplyCreditAction(),
        RefundAction(),
        ResendAction(),
        CollectionsAction(),
        CancelAction(),
    )
}


@admin.register(Invoice)
class InvoiceAdmin(SaveChangedFieldsOnly, LargeTableAdmin):
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
        return _admin_link("admin:billing_client_change", invoice.client_id, invoice.client)

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


# --- transactions ----------------------------------------------------------------------------------------------


@admin.register(Transaction)
class TransactionAdmin(LargeTableAdmin):
    list_display = (
        "date",
        "kind",
        "client_link",
        "invoice_link",
        "gateway",
        "gateway_transaction_id",
        "amount_in",
        "amount_out",
        "credit_change",
        "fees",
        "currency",
    )
    list_filter = ("kind", GatewayCodeFilter, ClientIdFilter)
    list_select_related = ("client", "invoice", "currency")
    # Newest recorded first, on the primary key: the table has no index on its date alone.
    ordering = ("-id",)
    sortable_by = ()
    search_fields = ("gateway_transaction_id",)  # searched by get_search_results below
    search_help_text = "A gateway transaction id (exact)."

    def get_search_results(self, request, queryset, search_term):
        term = search_term.strip()
        return (queryset.filter(gateway_transaction_id=term), False) if term else (queryset, False)

    @admin.display(description="Client")
    def client_link(self, tx: Transaction) -> str:
        return _admin_link("admin:billing_client_change", tx.client_id, tx.client)

    @admin.display(description="Invoice")
    def invoice_link(self, tx: Transaction) -> str:
        return _admin_link("admin:billing_invoice_change", tx.invoice_id, tx.invoice)

    def has_add_permission(self, request) -> bool:
        return False  # every movement comes from a service

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


# --- payment reminders and late fees ---------------------------------------------------------------------------


class InvoiceIdFilter(PositiveIdFilter):
    """Filter by invoice id from a text box."""

    title = "invoice"
    parameter_name = "invoice"
    lookup = "invoice_id"
    placeholder = "invoice id"
    target = Invoice


class AutomationRecordAdmin(LargeTableAdmin):
    """What the automation run did to invoices: its rows are its exactly-once keys, so nobody edits them."""

    list_filter = (InvoiceIdFilter,)
    list_select_related = ("invoice",)
    ordering = ("-id",)  # newest first on the primary key, the one index a growing table always has
    sortable_by = ()

    @admin.display(description="Invoice")
    def invoice_link(self, record) -> str:
        return _admin_link("admin:billing_invoice_change", record.invoice_id, record.invoice)

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


@admin.register(InvoiceReminder)
class InvoiceReminderAdmin(AutomationRecordAdmin):
    list_display = ("sent_on", "invoice_link", "level_days", "template", "skipped")
    list_filter = ("skipped", InvoiceIdFilter)
    fields = ("invoice", "level_days", "template", "sent_on", "skipped")


@admin.register(LateFee)
class LateFeeAdmin(AutomationRecordAdmin):
    list_display = ("applied_on", "invoice_link", "sequence", "amount_display")
    list_select_related = ("invoice__currency",)
    fields = ("invoice", "sequence", "amount_display", "applied_on")
    readonly_fields = ("amount_display",)

    @admin.display(description="Amount")
    def amount_display(self, fee: LateFee) -> str:
        return fee.invoice.currency.format(fee.amount)


# --- taxes, gateways, settings ---------------------------------------------------------------------------------


@admin.register(TaxRule)
class TaxRuleAdmin(LargeTableAdmin):
    list_display = ("name", "level", "country", "state", "rate_display")
    list_filter = ("level",)
    search_fields = ("name", "country", "state")
    fields = ("level", "name", "country", "state", "rate")

    @admin.display(description="rate", ordering="rate")
    def rate_display(self, rule: TaxRule) -> str:
        return format_rate(rule.rate)


def gateway_codes_without_config() -> list[str]:
    configured = set(GatewayConfig.objects.filter(code__in=GATEWAY_CLASSES).values_list("code", flat=True))
    return [code for code in GATEWAY_CLASSES if code not in configured]


@admin.register(GatewayConfig)
class GatewayConfigAdmin(admin.ModelAdmin):
    list_display = ("display_name", "code", "enabled", "sort_order", "availability")
    list_editable = ("enabled", "sort_order")
    readonly_fields = ("availability",)

    @admin.display(description="Can take payments")
    def availability(self, config: GatewayConfig) -> str:
        gateway_class = GATEWAY_CLASSES.get(config.code)
        if gateway_class is None:
            return f"No gateway implements {config.code!r}."
        return gateway_class(config).unavailable_reason() or "Yes"

    def get_form(self, request, obj=None, change=False, **kwargs):
        kwargs["form"] = gateway_config_form_for(obj.code if obj else None)
        return super().get_form(request, obj, change=change, **kwargs)

    def get_fieldsets(self, request, obj=None):
        if obj is None:
            return [(None, {"fields": ("code", "display_name", "enabled", "sort_order")})]
        fieldsets = [(None, {"fields": ("code", "display_name", "enabled", "sort_order", "availability")})]
        settings_fields = setting_field_names(GATEWAY_CLASSES.get(obj.code))
        if settings_fields:
            fieldsets.append(("Settings", {"fields": settings_fields}))
        return fieldsets

    def get_readonly_fields(self, request, obj=None):
        return ("code", "availability") if obj else ()

    def add_view(self, request, form_url="", extra_context=None):
        # Only an implemented gateway without a row can be added (the migration seeds them all). Checked here,
        # not in has_add_permission, which every admin page asks for its sidebar.
        if request.method != "POST" and not gateway_codes_without_config():
            self.message_user(request, "Every payment gateway is configured already.", messages.INFO)
            return HttpResponseRedirect(reverse("admin:billing_gatewayconfig_changelist"))
        return super().add_view(request, form_url, extra_context)

    def has_delete_permission(self, request, obj=None) -> bool:
        # Implemented gateways are disabled, not deleted; a row left by a removed implementation may go.
        return obj is not None and obj.code not in GATEWAY_CLASSES and super().has_delete_permission(request, obj)


@admin.register(BillingSettings)
class BillingSettingsAdmin(admin.ModelAdmin):
    """One row, edited in place: the list goes straight to it."""

    form = BillingSettingsForm
    readonly_fields = ("updated_at",)

    def changelist_view(self, request, extra_context=None):
        if not self.has_view_or_change_permission(request):
            raise PermissionDenied
        row = BillingSettings.load()
        return HttpResponseRedirect(reverse("admin:billing_billingsettings_change", args=[row.pk]))

    def has_add_permission(self, request) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


@admin.register(AutomationSettings)
class AutomationSettingsAdmin(admin.ModelAdmin):
    """One row, edited in place like the billing settings; saved through the service, which logs the actor."""

    form = AutomationSettingsForm
    readonly_fields = ("updated_at",)
    fieldsets = [
        ("Run", {"fields": ("time_of_day", "updated_at")}),
        (
            "Invoicing",
            {"fields": ("invoice_lead_days", "lead_days_by_cycle", "combined_invoicing", "continuous_invoicing")},
        ),
        ("Reminders", {"fields": ("reminder_levels",)}),
        (
            "Late fees",
            {
                "fields": (
                    "late_fee_enabled",
                    "late_fee_type",
                    "late_fee_amount",
                    "late_fee_minimum",
                    "late_fee_after_days",
                    "late_fee_repeat_days",
                    "late_fee_max_count",
                )
            },
        ),
        (
            "Suspension and termination",
            {
                "fields": (
                    "suspend_enabled",
                    "suspend_after_days",
                    "suspend_email",
                    "unsuspend_on_payment",
                    "terminate_enabled",
                    "terminate_after_days",
                )
            },
        ),
        (
            "Orders and domains",
            {
                "fields": (
                    "cancel_unpaid_orders_enabled",
                    "cancel_unpaid_orders_after_days",
                    "domain_renewal_notice_days",
                )
            },
        ),
    ]

    def changelist_view(self, request, extra_context=None):
        if not self.has_view_or_change_permission(request):
            raise PermissionDenied
        row = AutomationSettings.load()
        return HttpResponseRedirect(reverse("admin:billing_automationsettings_change", args=[row.pk]))

    def has_add_permission(self, request) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def save_model(self, request, obj, form, change) -> None:
        # Not obj.save(): the service checks the row again under its lock, saves it and logs who changed what.
        automation_settings_update(actor=request.user, **{name: form.cleaned_data[name] for name in form.changed_data})


# --- gateway events --------------------------------------------------------------------------------------------


@admin.register(GatewayEvent)
class GatewayEventAdmin(LargeTableAdmin):
    list_display = ("received_at", "gateway", "event_type", "event_id", "status", "attempts", "short_error")
    list_filter = ("status", GatewayCodeFilter)
    # Newest first on the primary key: the table has no index on received_at.
    ordering = ("-id",)
    sortable_by = ()
    search_fields = ("event_id",)  # searched by get_search_results below
    search_help_text = "An event id (exact)."
    actions = ["retry_failed"]
    fields = (
        "gateway",
        "event_type",
        "event_id",
        "status",
        "attempts",
        "received_at",
        "processed_at",
        "error",
        "payload",
    )

    def get_search_results(self, request, queryset, search_term):
        term = search_term.strip()
        return (queryset.filter(event_id=term), False) if term else (queryset, False)

    @admin.display(description="Error / outcome")
    def short_error(self, event: GatewayEvent) -> str:
        return event.error if len(event.error) <= 120 else event.error[:119] + "…"

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def has_retry_permission(self, request) -> bool:
        return request.user.has_perm("billing.change_gatewayevent")

    @admin.action(description="Retry the selected failed events", permissions=["retry"])
    def retry_failed(self, request: HttpRequest, queryset) -> None:
        for event in queryset.order_by("pk"):
            if event.status != GatewayEvent.Status.FAILED:
                self.message_user(
                    request, f"{event} is {event.get_status_display()}: only failed events are retried.", messages.INFO
                )
                continue
            try:
                event = gateway_event_apply(event_pk=event.pk)
            except Exception as exc:  # a fault: the event stays Failed with its error; report it and go on
                logger.exception("Admin retry of gateway event %s failed", event.pk)
                self.message_user(request, f"{event} failed again: {exc}", messages.ERROR)
                continue
            if event.status == GatewayEvent.Status.FAILED:
                self.message_user(request, f"{event} failed again: {event.error}", messages.ERROR)
            else:
                self.message_user(request, f"{event}: {event.get_status_display()} ({event.error}).", messages.SUCCESS)
