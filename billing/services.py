from __future__ import annotations

import datetime
from dataclasses import dataclass
from decimal import Decimal

from django.contrib.auth import get_user_model
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Sum
from django.utils import timezone

from billing.fsm import apply_transition
from billing.models import Client, Currency, Invoice, InvoiceItem
from billing.money import ZERO
from billing.selectors import invoice_delete_blocker
from notifications.bus import emit
from notifications.services import Actor, activity_record


@dataclass(frozen=True)
class InvoiceLine:
    kind: str
    description: str
    amount: Decimal
    related_id: int | None = None
    period_start: datetime.date | None = None
    period_end: datetime.date | None = None
    taxed: bool = False


def client_create(
    *,
    contact_name: str,
    email: str,
    country: str,
    currency: Currency,
    actor: Actor,
    company_name: str = "",
    address_1: str = "",
    city: str = "",
    state: str = "",
    postcode: str = "",
    phone: str = "",
    password: str | None = None,
) -> Client:
    """Create a client; with a password, also the user it logs in to the client area with (username = email)."""
    email = email.strip().lower()
    with transaction.atomic():
        client = Client(
            contact_name=contact_name,
            email=email,
            country=country.upper(),
            currency=currency,
            company_name=company_name,
            address_1=address_1,
            city=city,
            state=state,
            postcode=postcode,
            phone=phone,
        )
        client.full_clean(exclude=["status", "user"])  # a protected FSM field cannot be re-assigned by clean
        if password is not None:
            user_model = get_user_model()
            if user_model.objects.filter(username=email).exists():
                raise ValidationError({"email": f"A login for {email} already exists."})
            user = user_model(username=email, email=email, first_name=contact_name[:150])
            validate_password(password, user)
            user.set_password(password)
            user.save()
            client.user = user
        client.save()
        activity_record(
            actor=actor,
            action="client_created",
            subject=client,
            client_id=client.pk,
            message=f"Client {client} created",
        )
    return client


def invoice_create(
    *,
    client: Client,
    lines: list[InvoiceLine],
    actor: Actor,
    issue_date: datetime.date | None = None,
    due_date: datetime.date | None = None,
    status: str = Invoice.Status.UNPAID,
) -> Invoice:
    """Create an invoice in the client's currency with its lines and totals; emit InvoiceCreated after commit."""
    if not lines:
        raise ValidationError("An invoice needs at least one line.")
    if status not in (Invoice.Status.DRAFT, Invoice.Status.UNPAID):
        raise ValidationError("A new invoice is either Draft or Unpaid.")
    currency = client.currency
    for line in lines:
        if not isinstance(line.amount, Decimal):
            raise ValidationError(f"Line {line.description!r}: amounts are Decimal, not {type(line.amount).__name__}.")
        if line.amount != currency.quantize(line.amount):
            raise ValidationError(
                f"Line {line.description!r}: {line.amount} has more than {currency.decimal_places} decimal places."
            )
    issue_date = issue_date or timezone.localdate()
    with transaction.atomic():
        invoice = Invoice(client=client, currency=currency, date=issue_date, due_date=due_date or issue_date)
        if status == Invoice.Status.UNPAID:
            invoice.publish()
        invoice.save()
        InvoiceItem.objects.bulk_create(
            InvoiceItem(
                invoice=invoice,
                kind=line.kind,
                description=line.description,
                amount=line.amount,
                related_id=line.related_id,
                period_start=line.period_start,
                period_end=line.period_end,
                taxed=line.taxed,
            )
            for line in lines
        )
        _recalculate_totals(invoice)
        activity_record(
            actor=actor,
            action="invoice_created",
            subject=invoice,
            client_id=client.pk,
            message=f"{invoice} created for {currency.format(invoice.total)}",
        )
        emit(
            "InvoiceCreated",
            invoice_id=invoice.pk,
            client_id=client.pk,
            total=str(invoice.total),
            currency=currency.code,
        )
    return invoice


def _recalculate_totals(invoice: Invoice) -> None:
    """Totals from the lines, in one place. Taxes arrive with the billing issue; until then they are zero."""
    subtotal = invoice.items.aggregate(total=Sum("amount"))["total"] or ZERO
    invoice.subtotal = invoice.currency.quantize(subtotal)
    invoice.tax_1 = invoice.tax_2 = ZERO
    invoice.total = max(ZERO, invoice.subtotal + invoice.tax_1 + invoice.tax_2 - invoice.credit_applied)
    invoice.save(update_fields=["subtotal", "tax_1", "tax_2", "total"])


def _locked(invoice_id: int) -> Invoice:
    return Invoice.objects.select_for_update().get(pk=invoice_id)


def _move(invoice: Invoice, bound_transition, *, label: str, action: str, message: str, event: str, actor: Actor):
    apply_transition(bound_transition, label=label)
    invoice.save(update_fields=["status"])
    activity_record(actor=actor, action=action, subject=invoice, client_id=invoice.client_id, message=message)
    emit(event, invoice_id=invoice.pk, client_id=invoice.client_id)


def invoice_cancel_if_open(*, invoice_id: int, actor: Actor, reason: str = "") -> Invoice | None:
    """Cancel the invoice if it is still Draft or Unpaid, deciding under its lock; a paid one is left alone."""
    with transaction.atomic():
        invoice = _locked(invoice_id)
        if invoice.status not in (Invoice.Status.DRAFT, Invoice.Status.UNPAID):
            return None
        message = f"{invoice} cancelled" + (f": {reason}" if reason else "")
        _move(
            invoice,
            invoice.cancel,
            label="cancelled",
            action="invoice_cancelled",
            message=message,
            event="InvoiceCancelled",
            actor=actor,
        )
    return invoice


def invoice_reopen_if_cancelled(*, invoice_id: int, actor: Actor) -> Invoice | None:
    """Reopen a cancelled invoice as Unpaid (its order was set back to pending); any other is left alone."""
    with transaction.atomic():
        invoice = _locked(invoice_id)
        if invoice.status != Invoice.Status.CANCELLED:
            return None
        _move(
            invoice,
            invoice.reopen,
            label="reopened",
            action="invoice_reopened",
            message=f"{invoice} reopened as Unpaid",
            event="InvoiceUnpaid",
            actor=actor,
        )
    return invoice


def invoice_delete(*, invoice: Invoice, actor: Actor) -> None:
    """Delete an invoice no money has touched; anything paid, credited or with payments stays on the books."""
    with transaction.atomic():
        invoice = _locked(invoice.pk)
        if blocker := invoice_delete_blocker(invoice=invoice):
            raise ValidationError(blocker)
        activity_record(
            actor=actor,
            action="invoice_deleted",
            subject=invoice,
            client_id=invoice.client_id,
            message=f"{invoice} deleted",
        )
        invoice.delete()
