"""Gateway callbacks: stored once, applied in a task, retried on faults, never lost.

The webhook view stores a verified event (unique per gateway and event id) and answers at once; a task applies
it by recording the payment. A replayed event finds its row and does nothing; a fault leaves the event Failed
with its error, shown in the admin and retried, and the money is never dropped: a payment for an invoice that
can no longer take it becomes client credit.
"""

from __future__ import annotations

import logging
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from billing.gateways import GatewayError, IncomingEvent, gateway_for
from billing.models import GatewayEvent, Invoice, Transaction
from billing.money import from_minor_units
from billing.services.payments import REFUNDABLE_KINDS, money_validate, payment_record, refund_limit, refund_record
from notifications.bus import emit
from notifications.services import Actor

logger = logging.getLogger(__name__)

NUL_REPLACEMENT = "\ufffd"


def _storable(value):
    """The payload with every NUL in its texts (keys too) replaced by U+FFFD: PostgreSQL's jsonb cannot hold
    \u0000, and a verified event (money received) is kept, never refused for a character in, say, a name."""
    if isinstance(value, str):
        return value.replace("\x00", NUL_REPLACEMENT)
    if isinstance(value, dict):
        return {_storable(key): _storable(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_storable(item) for item in value]
    return value


def gateway_event_store(*, gateway_code: str, incoming: IncomingEvent) -> tuple[GatewayEvent, bool]:
    """Store a verified event once; when it is new, apply it in a task after commit."""
    from billing.tasks import gateway_event_apply_task

    with transaction.atomic():
        event, created = GatewayEvent.objects.get_or_create(
            gateway=gateway_code,
            event_id=_storable(incoming.event_id),
            defaults={"event_type": _storable(incoming.event_type), "payload": _storable(incoming.payload)},
        )
        if created:
            # robust: with in-process tasks a failing apply is logged (the event says Failed), not raised into
            # the webhook's answer, which must stay a quick 200 for an event we stored.
            transaction.on_commit(lambda: gateway_event_apply_task.delay(event.pk), robust=True)
    return event, created


def gateway_event_apply(*, event_pk: int) -> GatewayEvent:
    """Apply a stored event under its lock; an event already applied or ignored is left alone. A bad event
    (ValidationError) is marked Failed for good; any other fault is marked Failed and re-raised for a retry."""
    fault: Exception | None = None
    with transaction.atomic():
        event = GatewayEvent.objects.select_for_update().get(pk=event_pk)
        if event.status in (GatewayEvent.Status.APPLIED, GatewayEvent.Status.IGNORED):
            return event
        event.attempts += 1
        try:
            with transaction.atomic():
                summary = gateway_for(event.gateway).apply_event(event)
        except ValidationError as error:
            _failed(event, "; ".join(error.messages))
            return event
        except Exception as error:  # a fault of ours or the gateway's: keep the event, say why, retry
            fault = error
            _failed(event, f"{type(error).__name__}: {error}")
        else:
            ignored = summary.startswith("ignored")
            event.status = GatewayEvent.Status.IGNORED if ignored else GatewayEvent.Status.APPLIED
            event.error = summary
            event.processed_at = timezone.now()
            event.save(update_fields=["status", "error", "attempts", "processed_at"])
    if fault is not None:
        raise GatewayError(f"Applying {event} failed: {fault}") from fault
    return event


def _failed(event: GatewayEvent, message: str) -> None:
    logger.error("gateway event %s (%s %s) failed: %s", event.pk, event.gateway, event.event_id, message)
    event.status = GatewayEvent.Status.FAILED
    event.error = message
    event.save(update_fields=["status", "error", "attempts"])
    emit("GatewayEventFailed", gateway_event_id=event.pk, gateway=event.gateway, error=message[:500])


def payment_from_event(
    event: GatewayEvent, *, invoice_id: int, amount_minor: int, currency_code: str, gateway_transaction_id: str
) -> str:
    """The shared last step of every card gateway: the money really arrived, so record it (as credit if the
    invoice can no longer take it)."""
    invoice = Invoice.objects.select_related("currency").filter(pk=invoice_id).first()
    if invoice is None:
        raise ValidationError(f"The event names invoice #{invoice_id}, which does not exist.")
    if invoice.currency.code != currency_code.upper():
        raise ValidationError(f"The event pays in {currency_code.upper()} but {invoice} is in {invoice.currency.code}.")
    amount = from_minor_units(amount_minor, invoice.currency.decimal_places)
    outcome = payment_record(
        invoice_id=invoice_id,
        amount=amount,
        gateway=event.gateway,
        gateway_transaction_id=gateway_transaction_id,
        description=f"{event.event_type} {event.event_id}",
        actor=None,
        credit_if_not_payable=True,
    )
    if not outcome.created:
        return f"ignored: payment {gateway_transaction_id} was recorded before"
    return f"recorded {invoice.currency.format(amount)} on {outcome.invoice}"


class RefundMethod:
    GATEWAY = "gateway"  # the gateway sends the money back (Stripe, sandbox)
    CREDIT = "credit"  # into the client's credit balance
    MANUAL = "manual"  # the admin sent it back outside the portal (a bank transfer); we only record it
    CHOICES = [(GATEWAY, "Through the gateway"), (CREDIT, "To the client's credit"), (MANUAL, "Already sent by hand")]


def payment_refund(*, payment_id: int, amount: Decimal, method: str, actor: Actor, reason: str = "") -> Transaction:
    """Refund (part of) a payment and record it. The invoice stays locked from the check through the gateway
    call to the record, so two admins refunding at once cannot both pass the check; the gateway is only asked
    for what we are about to record. (A rare admin action: holding the lock over one API call is acceptable.)"""
    if method not in (RefundMethod.GATEWAY, RefundMethod.CREDIT, RefundMethod.MANUAL):
        raise ValidationError(f"Unknown refund method {method!r}.")
    with transaction.atomic():
        try:
            payment = Transaction.objects.select_related("currency").get(pk=payment_id)
        except Transaction.DoesNotExist:
            raise ValidationError(f"There is no payment #{payment_id}.") from None
        if payment.invoice_id is None or payment.kind not in REFUNDABLE_KINDS:
            raise ValidationError("Only a payment on an invoice can be refunded.")
        if payment.kind == Transaction.Kind.CREDIT_APPLIED and method != RefundMethod.CREDIT:
            raise ValidationError("Credit applied to an invoice can only be refunded to the client's credit.")
        invoice = Invoice.objects.select_for_update(of=("self",)).get(pk=payment.invoice_id)
        money_validate(amount, payment.currency, what="The refund")
        if invoice.status != Invoice.Status.PAID:
            raise ValidationError(f"{invoice} is {invoice.get_status_display()}: only paid invoices are refunded.")
        limit = refund_limit(payment, invoice)
        if amount > limit:
            raise ValidationError(
                f"A refund of {payment.currency.format(amount)} is more than the "
                f"{payment.currency.format(limit)} that can still be refunded on this payment."
            )
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
            to_credit=method == RefundMethod.CREDIT,
            gateway_refund_id=refund_id,
            reason=reason,
        )
