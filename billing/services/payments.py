"""Payments: starting one through a gateway, and recording money received, once per (gateway, gateway
transaction id). Every payment is a Transaction row written in the same transaction as the change it causes; the
invoice is locked before the client (billing.services.settlement), so two payments never deadlock."""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from billing.gateways import GatewayNotAvailable, PaymentStart, gateway_for
from billing.models import Invoice, Transaction
from billing.money import ZERO, money_validate
from billing.services.emails import payment_confirmation_emails
from billing.services.ledger import credit_balance_move
from billing.services.settlement import invoice_locked, invoice_mark_paid_if_settled
from notifications.bus import emit
from notifications.services import Actor, activity_record, actor_label


@dataclass(frozen=True)
class PaymentOutcome:
    transaction: Transaction
    created: bool  # False: this (gateway, transaction id) was recorded before and nothing changed now
    invoice: Invoice


def payment_amount_check(invoice: Invoice, amount: Decimal) -> None:
    """Refuse to ask a gateway for money the invoice cannot take: it must be payable with something due, and
    the amount a valid one of its currency within the balance."""
    currency = invoice.currency
    if not invoice.is_payable:
        raise ValidationError(f"{invoice} is {invoice.get_status_display()} with nothing to pay.")
    money_validate(amount, currency, what="The payment")
    if amount > invoice.balance_due:
        raise ValidationError(
            f"{currency.format(amount)} is more than the {currency.format(invoice.balance_due)} due on {invoice}."
        )


def payment_start(
    *,
    invoice_id: int,
    gateway_code: str,
    amount: Decimal,
    return_url: str,
    cancel_url: str,
    actor: Actor,
    client_id: int | None = None,
) -> PaymentStart:
    """Check that the invoice can be paid and that the amount is within its balance, then ask the gateway how
    the client pays (a hosted page, instructions, a form of ours). `client_id`, when given, must own the invoice
    (the client area passes the logged-in client). Nothing is recorded: the money is recorded when it arrives."""
    invoice = Invoice.objects.select_related("currency").filter(pk=invoice_id).first()
    if invoice is None or (client_id is not None and invoice.client_id != client_id):
        raise ValidationError(f"There is no invoice #{invoice_id}.")
    gateway = gateway_for(gateway_code)
    if unavailable := gateway.unavailable_reason():
        raise GatewayNotAvailable(unavailable)
    payment_amount_check(invoice, amount)
    return gateway.start_payment(
        invoice=invoice, amount=amount, return_url=return_url, cancel_url=cancel_url, actor=actor
    )


def payment_record(
    *,
    invoice_id: int,
    amount: Decimal,
    gateway: str,
    actor: Actor,
    gateway_transaction_id: str = "",
    fees: Decimal = ZERO,
    paid_at: datetime.datetime | None = None,
    description: str = "",
    credit_if_not_payable: bool = False,
) -> PaymentOutcome:
    """Record a payment against an invoice, once per (gateway, gateway transaction id).

    Partial payments leave the invoice Unpaid with its balance due; what exceeds the balance becomes client
    credit; when the balance reaches zero the invoice is Paid and InvoicePaid is emitted after commit.

    An invoice that can no longer be paid (paid meanwhile, cancelled) refuses the payment, unless the money has
    really been received by a gateway (`credit_if_not_payable`): then it becomes client credit, never lost.
    """
    gateway_transaction_id = gateway_transaction_id.strip()
    if not gateway.strip():
        raise ValidationError("A payment needs the gateway it came through.")
    paid_at = paid_at or timezone.now()
    with transaction.atomic():
        invoice = invoice_locked(invoice_id)
        money_validate(amount, invoice.currency)
        money_validate(fees, invoice.currency, what="The fee", allow_zero=True)
        if gateway_transaction_id:
            existing = Transaction.objects.filter(
                gateway=gateway, gateway_transaction_id=gateway_transaction_id
            ).first()
            if existing is not None:
                return PaymentOutcome(transaction=existing, created=False, invoice=invoice)
        payable = invoice.status in Invoice.PAYABLE_STATUSES
        if not payable and not credit_if_not_payable:
            raise ValidationError(f"{invoice} is {invoice.get_status_display()}: it cannot take a payment.")
        applied = min(amount, invoice.balance_due) if payable else ZERO
        excess = amount - applied
        try:
            with transaction.atomic():
                payment = Transaction.objects.create(
                    kind=Transaction.Kind.PAYMENT,
                    client_id=invoice.client_id,
                    invoice=invoice,
                    currency=invoice.currency,
                    gateway=gateway,
                    gateway_transaction_id=gateway_transaction_id,
                    date=paid_at,
                    description=description or f"Payment of {invoice}",
                    amount_in=amount,
                    fees=fees,
                    credit_change=excess,
                    actor_label=actor_label(actor),
                )
        except IntegrityError:
            # Recorded by someone not holding this invoice's lock (the id was used for another invoice).
            existing = Transaction.objects.get(gateway=gateway, gateway_transaction_id=gateway_transaction_id)
            return PaymentOutcome(transaction=existing, created=False, invoice=invoice)
        invoice.amount_paid += applied
        invoice.balance_due = max(ZERO, invoice.total - invoice.amount_paid)
        invoice.save(update_fields=["amount_paid", "balance_due", "updated_at"])
        if excess > 0:
            credit_balance_move(client_id=invoice.client_id, change=excess)
        money = invoice.currency.format
        message = f"{money(amount)} received through {gateway} for {invoice}"
        if excess > 0:
            message += f"; {money(excess)} added to credit" + ("" if payable else f" ({invoice.get_status_display()})")
        activity_record(
            actor=actor, action="payment_recorded", subject=invoice, client_id=invoice.client_id, message=message
        )
        emit(
            "InvoicePaymentReceived",
            invoice_id=invoice.pk,
            client_id=invoice.client_id,
            transaction_id=payment.pk,
            amount=str(amount),
            gateway=gateway,
        )
        payment_confirmation_emails(Transaction.objects.filter(pk=payment.pk))
        if payable:
            invoice_mark_paid_if_settled(invoice, at=paid_at, actor=actor)
    return PaymentOutcome(transaction=payment, created=True, invoice=invoice)
