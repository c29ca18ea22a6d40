"""The client emails billing's services queue, in their transaction, once each (the idempotency key: template,
subject id and, where there are several, the level or sequence). The database builds them from the rows it has
(email_queue_select), so a batch of the automation run queues its emails in one INSERT ... SELECT, and a single
invoice goes the same way."""

from __future__ import annotations

from django.db.models import CharField, F, QuerySet, Value
from django.db.models.functions import Cast, Coalesce, Concat

from billing.models import Invoice
from billing.pdf import INVOICE_PDF
from core.rows import decimal_text
from notifications.services import email_queue_select


def _invoice_context(prefix: str = "") -> dict:
    """The plain values of an invoice email, as expressions over a queryset whose rows reach the invoice by
    `prefix` ("" for invoices, "invoice__" for rows pointing at one)."""
    return {
        "invoice_id": F(f"{prefix}pk") if prefix == "" else F(f"{prefix}id"),
        "number": Coalesce(F(f"{prefix}number"), Value("")),
        "due_date": F(f"{prefix}due_date"),
        "total": decimal_text(f"{prefix}total", Invoice._meta.get_field("total")),
        "balance_due": decimal_text(f"{prefix}balance_due", Invoice._meta.get_field("balance_due")),
        "currency": F(f"{prefix}currency__code"),
    }


def _key(*parts) -> Concat:
    return Concat(*[part if not isinstance(part, str) else Value(part) for part in parts], output_field=CharField())


def _text(field: str) -> Cast:
    return Cast(field, CharField())


def invoice_created_emails(invoices: QuerySet[Invoice]) -> int:
    """The "invoice created" email of each of these (unpaid, new) invoices, with its PDF."""
    return email_queue_select(
        queryset=invoices,
        template=Value("invoice_created"),
        to_address=F("client__email"),
        idempotency_key=_key("invoice_created:", _text("pk")),
        context=_invoice_context(),
        client_id=F("client_id"),
        attachments={"kind": Value(INVOICE_PDF), "invoice_id": F("pk")},
    )


def payment_confirmation_emails(payments: QuerySet, *, amount_field: str = "amount_in") -> int:
    """The "payment received" email of each of these payment transactions (billing.Transaction)."""
    return email_queue_select(
        queryset=payments,
        template=Value("payment_confirmation"),
        to_address=F("invoice__client__email"),
        idempotency_key=_key("payment_confirmation:", _text("pk")),
        context={
            **_invoice_context("invoice__"),
            "amount": decimal_text(amount_field, payments.model._meta.get_field(amount_field)),
        },
        client_id=F("invoice__client_id"),
    )


def late_fee_emails(fees: QuerySet) -> int:
    """The "late fee added" email of each of these late fees (billing.LateFee): once per (invoice, sequence)."""
    return email_queue_select(
        queryset=fees,
        template=Value("late_fee_added"),
        to_address=F("invoice__client__email"),
        idempotency_key=_key("late_fee:", _text("invoice_id"), ":", _text("sequence")),
        context={
            **_invoice_context("invoice__"),
            "fee": decimal_text("amount", fees.model._meta.get_field("amount")),
        },
        client_id=F("invoice__client_id"),
    )


def reminder_emails(reminders: QuerySet) -> int:
    """The reminder email of each of these InvoiceReminder rows, its template the level's, with the PDF: once per
    (invoice, level)."""
    return email_queue_select(
        queryset=reminders,
        template=F("template"),
        to_address=F("invoice__client__email"),
        idempotency_key=_key("reminder:", _text("invoice_id"), ":", _text("level_days")),
        context={**_invoice_context("invoice__"), "level_days": F("level_days")},
        client_id=F("invoice__client_id"),
        attachments={"kind": Value(INVOICE_PDF), "invoice_id": F("invoice_id")},
    )
