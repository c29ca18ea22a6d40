"""An invoice whose balance reached nothing is Paid: the one place that happens, whatever settled it (a payment,
credit applied, an invoice that comes to nothing). Below invoices, payments and the ledger; it also holds the row
locks they share, taken invoice first, then client, everywhere, so two of them never deadlock."""

from __future__ import annotations

import datetime

from django.core.exceptions import ValidationError
from django.utils import timezone

from billing.models import BillingSettings, Client, Invoice
from billing.services.numbering import number_allocate
from core.fsm import apply_transition
from notifications.bus import emit
from notifications.services import Actor, activity_record


def invoice_locked(invoice_id: int) -> Invoice:
    """The invoice, locked in the caller's transaction, with its currency; refused when there is none."""
    try:
        return Invoice.objects.select_for_update(of=("self",)).select_related("currency").get(pk=invoice_id)
    except Invoice.DoesNotExist:
        raise ValidationError(f"There is no invoice #{invoice_id}.") from None


def client_locked(client_id: int) -> Client:
    """The client, locked in the caller's transaction, with its currency (after its invoice, if any)."""
    try:
        return Client.objects.select_for_update(of=("self",)).select_related("currency").get(pk=client_id)
    except Client.DoesNotExist:
        raise ValidationError(f"There is no client #{client_id}.") from None


def invoice_mark_paid_if_settled(invoice: Invoice, *, at: datetime.datetime, actor: Actor) -> bool:
    """Unpaid (or in collections) with nothing left due: Paid, numbered now if proforma, InvoicePaid after commit.
    The caller holds the invoice's lock."""
    if invoice.balance_due > 0:
        return False
    apply_transition(invoice.mark_paid, label="marked paid", at=at)
    number_allocate(invoice, on=timezone.localdate(at), billing=BillingSettings.load())
    invoice.save(update_fields=["status", "paid_at", "number", "updated_at"])
    activity_record(
        actor=actor, action="invoice_paid", subject=invoice, client_id=invoice.client_id, message=f"{invoice} paid"
    )
    emit("InvoicePaid", invoice_id=invoice.pk, client_id=invoice.client_id, total=str(invoice.total))
    return True
