"""Gateway callbacks: stored once, applied in a task, retried on faults, never lost.

The webhook view stores a verified event (unique per gateway and event id) and answers at once; a task applies
it: the gateway reads the event into a typed outcome (billing.gateways.PaymentConfirmed, EventIgnored,
EventRefused) and this module records it. A replayed event finds its row and does nothing; a fault leaves the
event Failed with its error, shown in the admin and retried, and the money is never dropped: a payment for an
invoice that can no longer take it becomes client credit.
"""

from __future__ import annotations

import logging
from decimal import Decimal

from celery import current_app
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from billing.gateways import (
    EventIgnored,
    EventRefused,
    GatewayError,
    GatewayNotAvailable,
    IncomingEvent,
    PaymentConfirmed,
    SandboxCard,
    gateway_for,
)
from billing.models import GatewayEvent, Invoice
from billing.money import from_minor_units
from billing.services.payments import PaymentOutcome, payment_amount_check, payment_record
from notifications.bus import emit
from notifications.services import Actor

logger = logging.getLogger(__name__)

NUL_REPLACEMENT = "\ufffd"
# The task that applies a stored event (billing.tasks), named rather than imported: tasks call services, and a
# service importing its task back would make the two modules a ring.
APPLY_TASK = "billing.tasks.gateway_event_apply_task"


def _storable(value):
    """The payload with every NUL in its texts (keys too) replaced by U+FFFD: PostgreSQL's jsonb cannot hold
    \\u0000, and a verified event (money received) is kept, never refused for a character in, say, a name."""
    if isinstance(value, str):
        return value.replace("\x00", NUL_REPLACEMENT)
    if isinstance(value, dict):
        return {_storable(key): _storable(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_storable(item) for item in value]
    return value


def gateway_event_store(*, gateway_code: str, incoming: IncomingEvent) -> tuple[GatewayEvent, bool]:
    """Store a verified event once; when it is new, apply it in a task after commit."""
    with transaction.atomic():
        event, created = GatewayEvent.objects.get_or_create(
            gateway=gateway_code,
            event_id=_storable(incoming.event_id),
            defaults={"event_type": _storable(incoming.event_type), "payload": _storable(incoming.payload)},
        )
        if created:
            # robust: with in-process tasks a failing apply is logged (the event says Failed), not raised into
            # the webhook's answer, which must stay a quick 200 for an event we stored.
            transaction.on_commit(lambda: current_app.tasks[APPLY_TASK].delay(event.pk), robust=True)
    return event, created


def gateway_event_apply(*, event_pk: int) -> GatewayEvent:
    """Apply a stored event under its lock; an event already applied or ignored is left alone. A bad event
    (refused by its gateway, or a ValidationError recording it) is marked Failed for good; any other fault is
    marked Failed and re-raised for a retry."""
    fault: Exception | None = None
    with transaction.atomic():
        event = GatewayEvent.objects.select_for_update().get(pk=event_pk)
        if event.status in (GatewayEvent.Status.APPLIED, GatewayEvent.Status.IGNORED):
            return event
        event.attempts += 1
        try:
            with transaction.atomic():
                ignored, summary = _record(event, gateway_for(event.gateway).read_event(event))
        except ValidationError as error:
            _failed(event, "; ".join(error.messages))
            return event
        except Exception as error:  # a fault of ours or the gateway's: keep the event, say why, retry
            fault = error
            _failed(event, f"{type(error).__name__}: {error}")
        else:
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


def _record(event: GatewayEvent, outcome) -> tuple[bool, str]:
    """Record what the gateway read from the event: (ignored?, the line kept on the event for the admin)."""
    if isinstance(outcome, EventRefused):
        raise ValidationError(outcome.reason)
    if isinstance(outcome, EventIgnored):
        return True, f"ignored: {outcome.reason}"
    if not isinstance(outcome, PaymentConfirmed):
        raise TypeError(f"{event.gateway} read {event} as {outcome!r}, which is no event outcome.")
    recorded = payment_confirmed_record(event, outcome)
    if not recorded.created:
        return True, f"ignored: payment {outcome.gateway_transaction_id} was recorded before"
    amount = recorded.transaction.amount_in
    return False, f"recorded {recorded.invoice.currency.format(amount)} on {recorded.invoice}"


def payment_confirmed_record(event: GatewayEvent, confirmed: PaymentConfirmed) -> PaymentOutcome:
    """The shared last step of every card gateway: the money really arrived, so record it (as credit if the
    invoice can no longer take it); recorded once per gateway transaction id."""
    invoice = Invoice.objects.select_related("currency").filter(pk=confirmed.invoice_id).first()
    if invoice is None:
        raise ValidationError(f"The event names invoice #{confirmed.invoice_id}, which does not exist.")
    currency_code = confirmed.currency_code.upper()
    if invoice.currency.code != currency_code:
        raise ValidationError(f"The event pays in {currency_code} but {invoice} is in {invoice.currency.code}.")
    return payment_record(
        invoice_id=invoice.pk,
        amount=from_minor_units(confirmed.amount_minor, invoice.currency.decimal_places),
        gateway=event.gateway,
        gateway_transaction_id=confirmed.gateway_transaction_id,
        description=f"{event.event_type} {event.event_id}",
        actor=None,
        credit_if_not_payable=True,
    )


def sandbox_payment_charge(*, invoice_id: int, client_id: int, approve: bool, actor: Actor) -> GatewayEvent:
    """The sandbox card form's answer: the invoice's balance is charged (PaymentDeclined when the tester chose
    Decline) and the charge event is stored and applied as a Stripe webhook's would be. GatewayNotAvailable
    when the sandbox is not offered here."""
    invoice = Invoice.objects.select_related("currency").filter(pk=invoice_id, client_id=client_id).first()
    if invoice is None:
        raise ValidationError(f"There is no invoice #{invoice_id}.")
    gateway = gateway_for(SandboxCard.code)
    if unavailable := gateway.unavailable_reason():
        raise GatewayNotAvailable(unavailable)
    amount: Decimal = invoice.balance_due
    payment_amount_check(invoice, amount)
    incoming = gateway.charge(invoice=invoice, amount=amount, approve=approve)
    event, _created = gateway_event_store(gateway_code=gateway.code, incoming=incoming)
    return event
