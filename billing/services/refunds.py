"""Refunds: money that went into a Paid invoice goes back, one payment (or credit application) at a time, as a
negative transaction. Through the gateway, into the client's credit, or recorded as already sent by hand.

Credit applied to an invoice is refunded into the client's credit, where it came from (as WHMCS does): it was
never money a gateway holds, so there is nothing to send back through one."""

from __future__ import annotations

from decimal import Decimal
from enum import StrEnum

from django.core.exceptions import ValidationError
from django.db import transaction

from billing.gateways import gateway_for
from billing.models import Transaction
from billing.money import ZERO, money_validate
from billing.selectors import REFUNDABLE_KINDS, refund_limit
from billing.services.ledger import CREDIT_GATEWAY, credit_balance_move
from billing.services.settlement import invoice_locked
from core.fsm import apply_transition
from notifications.bus import emit
from notifications.services import Actor, activity_record, actor_label


class RefundMethod(StrEnum):
    GATEWAY = "gateway"  # the gateway sends the money back (Stripe, sandbox)
    CREDIT = "credit"  # into the client's credit balance
    MANUAL = "manual"  # the admin sent it back outside the portal (a bank transfer); we only record it


def _payment_for_refund(payment_id: int) -> Transaction:
    try:
        return Transaction.objects.select_related("currency").get(
            pk=payment_id, kind__in=REFUNDABLE_KINDS, invoice__isnull=False
        )
    except Transaction.DoesNotExist:
        raise ValidationError(f"There is no payment #{payment_id} on an invoice to refund.") from None


def _refund_check(payment: Transaction, invoice, amount: Decimal, *, to_credit: bool) -> None:
    money_validate(amount, invoice.currency, what="The refund")
    if invoice.status != invoice.Status.PAID:
        raise ValidationError(f"{invoice} is {invoice.get_status_display()}: only paid invoices are refunded.")
    if payment.kind == Transaction.Kind.CREDIT_APPLIED and not to_credit:
        raise ValidationError("Credit applied to an invoice can only be refunded to the client's credit.")
    limit = refund_limit(payment, invoice)
    if amount > limit:
        raise ValidationError(
            f"A refund of {invoice.currency.format(amount)} is more than the {invoice.currency.format(limit)} "
            "that can still be refunded on this payment."
        )


def refund_record(
    *,
    payment_id: int,
    amount: Decimal,
    actor: Actor,
    to_credit: bool = False,
    gateway_refund_id: str = "",
    reason: str = "",
) -> Transaction:
    """Record a refund of (part of) a payment on a Paid invoice, as a negative transaction: through the gateway
    (the caller made the gateway call and passes its refund id) or, with `to_credit`, into the client's credit.
    Credit applied to the invoice can be refunded too, to credit only. Every refund is limited by what its
    source put in; when everything that went into the invoice has gone back, it moves Paid -> Refunded."""
    with transaction.atomic():
        payment = _payment_for_refund(payment_id)
        invoice = invoice_locked(payment.invoice_id)
        _refund_check(payment, invoice, amount, to_credit=to_credit)
        gateway_refund_id = gateway_refund_id.strip()
        gateway = CREDIT_GATEWAY if to_credit else payment.gateway
        if gateway_refund_id:
            earlier = Transaction.objects.filter(gateway=gateway, gateway_transaction_id=gateway_refund_id).first()
            if earlier is not None:  # the gateway answered a repeated request with the refund it made before
                return earlier
        refund = Transaction.objects.create(
            kind=Transaction.Kind.REFUND,
            client_id=invoice.client_id,
            invoice=invoice,
            refund_of=payment,
            currency=invoice.currency,
            gateway=gateway,
            gateway_transaction_id=gateway_refund_id,
            description=f"Refund of {invoice}" + (f": {reason}" if reason else ""),
            amount_out=amount,
            credit_change=amount if to_credit else ZERO,
            actor_label=actor_label(actor),
        )
        if to_credit:
            credit_balance_move(client_id=invoice.client_id, change=amount)
        invoice.amount_refunded += amount
        fields = ["amount_refunded", "updated_at"]
        fully = invoice.refundable == 0
        if fully:
            apply_transition(invoice.refund, label="refunded")
            fields.append("status")
        invoice.save(update_fields=fields)
        money = invoice.currency.format
        activity_record(
            actor=actor,
            action="refund_recorded",
            subject=invoice,
            client_id=invoice.client_id,
            message=f"{money(amount)} refunded on {invoice} "
            + ("to credit" if to_credit else f"through {payment.gateway}"),
        )
        emit("InvoiceRefundRecorded", invoice_id=invoice.pk, client_id=invoice.client_id, amount=str(amount))
        if fully:
            emit("InvoiceRefunded", invoice_id=invoice.pk, client_id=invoice.client_id)
    return refund


def payment_refund(*, payment_id: int, amount: Decimal, method: str, actor: Actor, reason: str = "") -> Transaction:
    """Refund (part of) a payment and record it. The invoice stays locked from the check through the gateway
    call to the record, so two admins refunding at once cannot both pass the check; the gateway is only asked
    for what we are about to record. (A rare admin action: holding the lock over one API call is acceptable.)"""
    if method not in RefundMethod.__members__.values():
        raise ValidationError(f"Unknown refund method {method!r}.")
    to_credit = method == RefundMethod.CREDIT
    with transaction.atomic():
        try:
            payment = Transaction.objects.select_related("currency").get(pk=payment_id)
        except Transaction.DoesNotExist:
            raise ValidationError(f"There is no payment #{payment_id}.") from None
        if payment.invoice_id is None or payment.kind not in REFUNDABLE_KINDS:
            raise ValidationError("Only a payment on an invoice can be refunded.")
        invoice = invoice_locked(payment.invoice_id)
        _refund_check(payment, invoice, amount, to_credit=to_credit)
        refund_id = ""
        if method == RefundMethod.GATEWAY:
            gateway = gateway_for(payment.gateway)
            if not gateway.supports_refund:
                raise ValidationError(
                    f"{gateway.name} cannot send money back: refund it yourself and record it as sent by hand, "
                    "or refund to the client's credit."
                )
            refund_id = gateway.refund(payment=payment, amount=amount)
        return refund_record(
            payment_id=payment_id,
            amount=amount,
            actor=actor,
            to_credit=to_credit,
            gateway_refund_id=refund_id,
            reason=reason,
        )
