"""The credit ledger: a client's credit balance and every movement of it. Credit is the client's own money held
by us, not a payment gateway: adding, removing and applying it are ledger operations, each a Transaction row
(gateway "credit") written in the same transaction as the balance it moves, so a client's credit balance always
equals the sum of its transactions' credit_change. Below invoices, payments and refunds, which move credit too."""

from __future__ import annotations

from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from billing.models import Client, Invoice, Transaction
from billing.money import ZERO, money_validate
from billing.services.settlement import client_locked, invoice_locked, invoice_mark_paid_if_settled
from billing.services.totals import invoice_recalculate
from notifications.bus import emit
from notifications.services import Actor, activity_record, actor_label

CREDIT_GATEWAY = "credit"


def credit_balance_move(*, client_id: int, change: Decimal) -> Client:
    """Move a client's credit balance by `change` for a movement whose own Transaction records it (a payment's
    excess, a refund to credit). The caller holds the invoice's lock; the client is locked here, after it."""
    client = client_locked(client_id)
    _balance_move(client, change)
    return client


def _balance_move(client: Client, change: Decimal) -> None:
    client.credit_balance += change
    if client.credit_balance < 0:
        raise ValidationError(
            f"{client} has {client.currency.format(client.credit_balance - change)} of credit; "
            f"{client.currency.format(-change)} cannot be taken from it."
        )
    client.save(update_fields=["credit_balance"])


def ledger_entry(
    *, client: Client, kind: str, change: Decimal, actor: Actor, description: str, invoice: Invoice | None = None
) -> Transaction:
    """Move a locked client's credit balance and write the Transaction that records it."""
    _balance_move(client, change)
    return Transaction.objects.create(
        kind=kind,
        client=client,
        invoice=invoice,
        currency=client.currency,
        gateway=CREDIT_GATEWAY,
        description=description,
        credit_change=change,
        actor_label=actor_label(actor),
    )


def _credit_reason(reason: str) -> str:
    reason = reason.strip()
    if not reason:
        raise ValidationError("Say why the credit changes: the reason is kept with the client's credit history.")
    return reason


def credit_add(*, client_id: int, amount: Decimal, reason: str, actor: Actor) -> Transaction:
    reason = _credit_reason(reason)
    with transaction.atomic():
        client = client_locked(client_id)
        money_validate(amount, client.currency)
        entry = ledger_entry(
            client=client, kind=Transaction.Kind.CREDIT_ADDED, change=amount, actor=actor, description=reason
        )
        activity_record(
            actor=actor,
            action="credit_added",
            subject=client,
            client_id=client.pk,
            message=f"{client.currency.format(amount)} credit added: {reason}",
        )
        emit("ClientCreditAdded", client_id=client.pk, amount=str(amount))
    return entry


def credit_remove(*, client_id: int, amount: Decimal, reason: str, actor: Actor) -> Transaction:
    reason = _credit_reason(reason)
    with transaction.atomic():
        client = client_locked(client_id)
        money_validate(amount, client.currency)
        entry = ledger_entry(
            client=client, kind=Transaction.Kind.CREDIT_REMOVED, change=-amount, actor=actor, description=reason
        )
        activity_record(
            actor=actor,
            action="credit_removed",
            subject=client,
            client_id=client.pk,
            message=f"{client.currency.format(amount)} credit removed: {reason}",
        )
        emit("ClientCreditRemoved", client_id=client.pk, amount=str(amount))
    return entry


def credit_apply(
    *, invoice_id: int, actor: Actor, amount: Decimal | None = None, client_id: int | None = None
) -> Transaction:
    """Apply the client's credit to an open invoice: `amount`, or as much as the credit and balance allow.
    `client_id`, when given, must own the invoice (the client area passes the logged-in client)."""
    with transaction.atomic():
        invoice = invoice_locked(invoice_id)
        if client_id is not None and invoice.client_id != client_id:
            raise ValidationError(f"There is no invoice #{invoice_id}.")
        client = client_locked(invoice.client_id)
        return credit_apply_locked(invoice=invoice, client=client, amount=amount, actor=actor)


def credit_apply_locked(*, invoice: Invoice, client: Client, amount: Decimal | None, actor: Actor) -> Transaction:
    """credit_apply for a caller that already holds the invoice's and client's locks."""
    if invoice.status not in Invoice.PAYABLE_STATUSES:
        raise ValidationError(f"{invoice} is {invoice.get_status_display()}: credit cannot be applied to it.")
    available = min(client.credit_balance, invoice.balance_due)
    if amount is None:
        amount = available
        if amount <= 0:
            raise ValidationError(
                f"{client} has no credit to apply." if client.credit_balance <= 0 else f"{invoice} has nothing due."
            )
    money_validate(amount, invoice.currency, what="The credit")
    if amount > client.credit_balance:
        raise ValidationError(
            f"{client} has {client.currency.format(client.credit_balance)} of credit, "
            f"less than {client.currency.format(amount)}."
        )
    if amount > invoice.balance_due:
        raise ValidationError(
            f"{invoice} has {invoice.currency.format(invoice.balance_due)} due, "
            f"less than {invoice.currency.format(amount)}."
        )
    entry = ledger_entry(
        client=client,
        kind=Transaction.Kind.CREDIT_APPLIED,
        change=-amount,
        actor=actor,
        description=f"Credit applied to {invoice}",
        invoice=invoice,
    )
    invoice.credit_applied += amount
    invoice.save(update_fields=["credit_applied", "updated_at"])
    invoice_recalculate(invoice)
    activity_record(
        actor=actor,
        action="credit_applied",
        subject=invoice,
        client_id=invoice.client_id,
        message=f"{invoice.currency.format(amount)} credit applied to {invoice}",
    )
    emit("InvoiceCreditApplied", invoice_id=invoice.pk, client_id=invoice.client_id, amount=str(amount))
    invoice_mark_paid_if_settled(invoice, at=timezone.now(), actor=actor)
    return entry


def credit_return_from_invoice(*, invoice: Invoice, actor: Actor) -> None:
    """Give back to the client's credit what an invoice being cancelled holds: its credit and partial payments
    (the money now lives in the credit balance, so the invoice no longer counts it). The caller holds the
    invoice's lock."""
    returned = invoice.credit_applied + invoice.amount_paid
    client = client_locked(invoice.client_id)
    ledger_entry(
        client=client,
        kind=Transaction.Kind.CREDIT_ADDED,
        change=returned,
        actor=actor,
        description=f"Returned from cancelled {invoice}",
        invoice=invoice,
    )
    invoice.credit_applied = invoice.amount_paid = ZERO
    invoice.save(update_fields=["credit_applied", "amount_paid", "updated_at"])
    invoice_recalculate(invoice)
    emit("ClientCreditAdded", client_id=client.pk, amount=str(returned))
