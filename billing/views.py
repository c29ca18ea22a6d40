"""Client area: invoices. Every view finds its invoice through the logged-in client, so another client's id
is a 404, never a 403: nobody learns what exists."""

from __future__ import annotations

import logging
import sys
from decimal import Decimal

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_POST

from billing.forms import ApplyCreditForm
from billing.gateways import GatewayError, GatewayNotAvailable, PaymentDeclined, gateways_for_invoice
from billing.invoice_rows import invoice_totals, transaction_amount
from billing.models import Invoice, Transaction
from billing.pdf import invoice_pdf, invoice_pdf_filename
from billing.selectors import (
    InvoicePageMovement,
    client_invoices,
    login_invoice_list,
    login_invoice_page,
)
from billing.services import credit_apply, payment_start, sandbox_payment_charge
from core.requests import client_of

logger = logging.getLogger(__name__)

INVOICES_PER_PAGE = 25


def _invoice_of(request: HttpRequest, invoice_id: int) -> Invoice:
    client = client_of(request)
    return get_object_or_404(client_invoices(client=client), pk=invoice_id)


class CountlessPage:
    """A page of a list that is never counted: one row more than a page is read to know whether an older page
    exists, which saves Paginator's COUNT query on every page (and its cost on a client with many invoices);
    so there is no "of N pages". Offers what clientarea/_pagination.html uses of Django's Page."""

    paginator = None  # no count, no number of pages

    def __init__(self, object_list: list, *, number: int, has_next: bool) -> None:
        self.object_list = object_list
        self.number = number
        self._has_next = has_next

    def has_next(self) -> bool:
        return self._has_next

    def has_previous(self) -> bool:
        return self.number > 1

    def has_other_pages(self) -> bool:
        return self.has_next() or self.has_previous()

    def next_page_number(self) -> int:
        return self.number + 1

    def previous_page_number(self) -> int:
        return self.number - 1


def _page_number(raw: str | None) -> int:
    try:
        number = int(raw or 1)
    except ValueError:
        return 1  # as Paginator.get_page: not a number, the first page
    return min(number, sys.maxsize // INVOICES_PER_PAGE)  # a page past any end, but an OFFSET the database takes


def _page_of(invoices: QuerySet[Invoice], number: int) -> list[Invoice]:
    """The page's invoices and, if there is one, the first of the next page."""
    first = (number - 1) * INVOICES_PER_PAGE
    return list(invoices[first : first + INVOICES_PER_PAGE + 1]) if number >= 1 else []


def _invoice_list_rows(invoices: list[Invoice]) -> list[dict[str, str]]:
    """The list's cells, formatted here once: a template tag or filter per cell cost more than the query."""
    marker = str(2**62)  # one reverse() for the list: the invoice pages' URLs differ only in the id
    url_head, url_tail = reverse("clientarea:invoice_detail", args=[marker]).split(marker)
    return [
        {
            "url": f"{url_head}{invoice.pk}{url_tail}",
            "number": invoice.display_number,
            "date": invoice.date.isoformat(),  # what |date:"Y-m-d" shows of a date
            "due_date": invoice.due_date.isoformat(),
            "total": invoice.currency.format(invoice.total),
            "balance_due": invoice.currency.format(invoice.balance_due),
            "status": invoice.status,
            "status_label": Invoice.Status(invoice.status).label,  # get_status_display() rebuilds a dict per call
        }
        for invoice in invoices
    ]


@login_required
def invoice_list(request: HttpRequest) -> HttpResponse:
    status = request.GET.get("status", "")
    if status not in Invoice.Status.values:
        status = ""
    invoices = login_invoice_list(user_id=request.user.pk, status=status)
    number = _page_number(request.GET.get("page"))
    rows = _page_of(invoices, number)
    if not rows and number != 1:
        # Past either end: the last page, as Paginator.get_page shows. Only here is the list counted.
        number = max(1, -(-invoices.count() // INVOICES_PER_PAGE))
        rows = _page_of(invoices, number)
    if not rows:
        client_of(request)  # nothing to show: a 404 when the login has no client account at all
    page = CountlessPage(
        _invoice_list_rows(rows[:INVOICES_PER_PAGE]), number=number, has_next=len(rows) > INVOICES_PER_PAGE
    )
    return render(
        request, "clientarea/invoice_list.html", {"page": page, "status": status, "statuses": Invoice.Status.choices}
    )


@login_required
def invoice_detail(request: HttpRequest, invoice_id: int) -> HttpResponse:
    # The invoice with its client, currency, lines and transactions in one query, scoped by the login.
    page = login_invoice_page(user_id=request.user.pk, invoice_id=invoice_id)
    if page is None:
        raise Http404("No such invoice.")
    invoice, client, lines, movements = page.invoice, page.invoice.client, page.lines, page.movements
    money = invoice.currency.format
    credit_usable = min(client.credit_balance, invoice.balance_due) if invoice.is_payable else Decimal(0)
    context = {
        "invoice": invoice,
        "status_label": Invoice.Status(invoice.status).label,
        # Cells formatted here once, as on the list: a template tag per amount cost more than a query.
        "lines": [(line.description, money(line.amount)) for line in lines],
        "totals": invoice_totals(invoice),  # as the PDF shows them
        "balance_due": money(invoice.balance_due),
        "transactions": [_movement_row(movement, invoice.currency) for movement in movements],
        "gateways": gateways_for_invoice(invoice=invoice),
        "credit_usable": credit_usable,
        "credit_balance": (
            (invoice.currency if client.currency_id == invoice.currency_id else client.currency).format(
                client.credit_balance
            )
            if credit_usable
            else ""
        ),
    }
    return render(request, "clientarea/invoice_detail.html", context)


def _movement_row(movement: InvoicePageMovement, currency) -> dict[str, str]:
    amount = transaction_amount(
        amount_in=movement.amount_in,
        amount_out=movement.amount_out,
        credit_change=movement.credit_change,
        currency=currency,
    )
    return {
        "date": timezone.localtime(movement.date).date().isoformat(),  # what |date:"Y-m-d" shows
        "kind": Transaction.Kind(movement.kind).label,
        "gateway": movement.gateway,
        "reference": movement.reference or "—",
        "amount": amount,
    }


@login_required
@require_POST
def invoice_pay(request: HttpRequest, invoice_id: int, gateway_code: str) -> HttpResponse:
    invoice = _invoice_of(request, invoice_id)
    detail_url = reverse("clientarea:invoice_detail", args=[invoice.pk])
    offered = {g.code: g for g in gateways_for_invoice(invoice=invoice)}
    gateway = offered.get(gateway_code)
    if gateway is None:
        messages.error(request, "That payment method is not available for this invoice.")
        return redirect(detail_url)
    return_url = request.build_absolute_uri(detail_url + "?paid=1")
    cancel_url = request.build_absolute_uri(detail_url)
    try:
        start = payment_start(
            invoice_id=invoice.pk,
            client_id=invoice.client_id,
            gateway_code=gateway.code,
            amount=invoice.balance_due,
            return_url=return_url,
            cancel_url=cancel_url,
            actor=request.user,
        )
    except GatewayNotAvailable:
        messages.error(request, "That payment method is not available for this invoice.")
        return redirect(detail_url)
    except (PaymentDeclined, ValidationError) as refused:
        messages.error(request, "; ".join(getattr(refused, "messages", [str(refused)])))
        return redirect(detail_url)
    except GatewayError:
        logger.exception("starting a %s payment for invoice %s failed", gateway.code, invoice.pk)
        messages.error(request, f"{gateway.name} is unavailable right now. Try again or choose another method.")
        return redirect(detail_url)
    if start.redirect_url:
        return redirect(start.redirect_url)
    template = start.form_template or "clientarea/payment_instructions.html"
    return render(request, template, {"invoice": invoice, "gateway": gateway, "instructions": start.instructions})


@login_required
@require_POST
def sandbox_charge(request: HttpRequest, invoice_id: int) -> HttpResponse:
    """The sandbox card form's answer: approve or decline. Approved, it goes the way of a Stripe webhook."""
    invoice = _invoice_of(request, invoice_id)
    detail_url = reverse("clientarea:invoice_detail", args=[invoice.pk])
    try:
        sandbox_payment_charge(
            invoice_id=invoice.pk,
            client_id=invoice.client_id,
            approve=request.POST.get("outcome") == "approve",
            actor=request.user,
        )
    except (GatewayNotAvailable, ValidationError):
        messages.error(request, "The sandbox card cannot pay this invoice.")
        return redirect(detail_url)
    except PaymentDeclined as declined:
        messages.error(request, str(declined))
        return redirect(detail_url)
    messages.success(request, "Payment received. Thank you!")
    return redirect(detail_url)


@login_required
@require_POST
def invoice_apply_credit(request: HttpRequest, invoice_id: int) -> HttpResponse:
    invoice = _invoice_of(request, invoice_id)
    detail_url = reverse("clientarea:invoice_detail", args=[invoice.pk])
    form = ApplyCreditForm(request.POST, invoice=invoice)  # empty: as much as the credit and balance allow
    if not form.is_valid():
        messages.error(request, "; ".join(form.errors.get("amount", [])) or "That is not an amount.")
        return redirect(detail_url)
    try:
        credit_apply(
            invoice_id=invoice.pk, client_id=invoice.client_id, amount=form.cleaned_data["amount"], actor=request.user
        )
    except ValidationError as refused:
        messages.error(request, "; ".join(refused.messages))
    else:
        messages.success(request, "Credit applied.")
    return redirect(detail_url)


@login_required
def invoice_pdf_download(request: HttpRequest, invoice_id: int) -> HttpResponse:
    invoice = _invoice_of(request, invoice_id)
    response = HttpResponse(invoice_pdf(invoice), content_type="application/pdf")
    response["Content-Disposition"] = f'attachment; filename="{invoice_pdf_filename(invoice)}"'
    return response
