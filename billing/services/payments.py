"""Money moving: payments, refunds and credit. Every movement is a Transaction row written in the same
transaction as the change it causes; the invoice is locked before the client, everywhere, so two of these
never deadlock."""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from billing.models import BillingSettings, Client, Currency, Invoice, Transaction
from billing.money import MONEY_LIMIT, ZERO
from billing.services.invoices import _number_allocate, invoice_recalculate
from core.fsm import apply_transition
from notifications.bus import emit
from notifications.services import Actor, activity_record, actor_label

CREDIT_GATEWAY = "credit"


@dataclass(frozen=True)
class PaymentOutcome:
    transaction: Transaction
    created: bool  # False: this (gateway, transaction id) was recorded before and nothing changed now
    invoice: Invoice


def money_validate(amount: Decimal, currency: Currency, *, what: str = "The amount", allow_zero: bool = False) -> None:
    """Refuse amounts that are not Decimal, not finite, negative (or zero) or finer than the currency."""
    if not isinstance(amount, Decimal):
        raise ValidationError(f"{what} must be a Decimal, not {type(amount).__name__}.")
    if not amount.is_finite():
        raise ValidationError(f"{what} is not a number.")
    # copy_abs() and the comparison are exact: abs() would round in the context and raise decimal.Overflow
    # on an exponent beyond it (1e1000000). The amount is not repeated: it may be thousands of digits long.
    if amount.copy_abs() >= MONEY_LIMIT:
        raise ValidationError(f"{what} is larger than the books can hold ({MONEY_LIMIT - 1:,}).")
    if amount < 0 or (amount == 0 and not allow_zero):
        raise ValidationError(f"{what} must be {'zero or more' if allow_zero else 'more than zero'}, not {amount}.")
    if amount != currency.quantize(amount):
        raise ValidationError(
            f"{what} {amount} has more than {currency.decimal_places} decimal places for {currency.code}."
        )


def _lock_invoice(invoice_id: int) -> Invoice:
    try:
        return Invoice.objects.select_for_update(of=("self",)).select_related("currency").get(pk=invoice_id)
    except Invoice.DoesNotExist:
        raise ValidationError(f"There is no invoice #{invoice_id}.") from None


def _lock_client(client_id: int) -> Client:
    return Client.objects.select_for_update(of=("self",)).get(pk=client_id)


def mark_paid_if_settled(invoice: Invoice, *, at: datetime.datetime, actor: Actor) -> bool:
    if invoice.balance_due > 0:
        return False
    apply_transition(invoice.mark_paid, label="marked paid", at=at)
    billing = BillingSettings.load()
    _number_allocate(invoice, on=timezone.localdate(at), billing=billing)  # proforma invoices get theirs now
    invoice.save(update_fields=["status", "paid_at", "number", "updated_at"])
    activity_record(
        actor=actor, action="invoice_paid", subject=invoice, client_id=invoice.client_id, message=f"{invoice} paid"
    )
    emit("InvoicePaid", invoice_id=invoice.pk, client_id=invoice.client_id, total=str(invoice.total))
    return True


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
        invoice = _lock_invoice(invoice_id)
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
            client = _lock_client(invoice.client_id)
            client.credit_balance += excess
            client.save(update_fields=["credit_balance"])
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
        if payable:
            mark_paid_if_settled(invoice, at=paid_at, actor=actor)
    return PaymentOutcome(transaction=payment, created=True, invoice=invoice)


REFUNDABLE_KINDS = (Transaction.Kind.PAYMENT, Transaction.Kind.CREDIT_APPLIED)


def refundable_on(payment: Transaction) -> Decimal:
    """What of a payment (or of credit applied) can still be refunded: what it put into the invoice, less
    refunds against it so far. An overpayment's excess sits in the client's credit and is removed from there."""
    refunded = sum((r.amount_out for r in payment.refunds.all()), ZERO)
    if payment.kind == Transaction.Kind.CREDIT_APPLIED:
        return -payment.credit_change - refunded
    return payment.amount_in - max(payment.credit_change, ZERO) - refunded


def refund_limit(payment: Transaction, invoice: Invoice) -> Decimal:
    """The most that may be refunded against this payment now: its own remainder, within the invoice's."""
    return max(ZERO, min(refundable_on(payment), invoice.refundable))


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
        try:
            payment = Transaction.objects.get(pk=payment_id, kind__in=REFUNDABLE_KINDS, invoice__isnull=False)
        except Transaction.DoesNotExist:
            raise ValidationError(f"There is no payment #{payment_id} on an invoice to refund.") from None
        invoice = _lock_invoice(payment.invoice_id)
        money_validate(amount, invoice.currency, what="The refund")
        if invoice.status != Invoice.Status.PAID:
            raise ValidationError(f"{invoice} is {invoice.get_status_display()}: only paid invoices are refunded.")
        if payment.kind == Transaction.Kind.CREDIT_APPLIED and not to_credit:
            raise ValidationError("Credit applied to an invoice can only be refunded to the client's credit.")
        limit = refund_limit(payment, invoice)
        if amount > limit:
            raise ValidationError(
                f"A refund of {invoice.currency.format(amount)} is more than the {invoice.currency.format(limit)} "
                "that can still be refunded on this payment."
            )
        gateway_refund_id = gateway_refund_id.strip()
        if gateway_refund_id:
            gateway = CREDIT_GATEWAY if to_credit else payment.gateway
            earlier = Transaction.objects.filter(gateway=gateway, gateway_transaction_id=gateway_refund_id).first()
            if earlier is not None:  # the gateway answered a repeated request with the refund it made before
                return earlier
        refund = Transaction.objects.create(
            kind=Transaction.Kind.REFUND,
            client_id=invoice.client_id,
            invoice=invoice,
            refund_of=payment,
            currency=invoice.currency,
            gateway=CREDIT_GATEWAY if to_credit else payment.gateway,
            gateway_transaction_id=gateway_refund_id,
            description=f"Refund of {invoice}" + (f": {reason}" if reason else ""),
            amount_out=amount,
            credit_change=amount if to_credit else ZERO,
            actor_label=actor_label(actor),
        )
        if to_credit:
            client = _lock_client(invoice.client_id)
            client.credit_balance += amount
            client.save(update_fields=["credit_balance"])
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


# --- credit ----------------------------------------------------------------------------------------------------


def _credit_entry(
    *, client: Client, kind: str, change: Decimal, actor: Actor, description: str, invoice: Invoice | None = None
) -> Transaction:
    client.credit_balance += change
    if client.credit_balance < 0:
        raise ValidationError(
            f"{client} has {client.currency.format(client.credit_balance - change)} of credit; "
            f"{client.currency.format(-change)} cannot be taken from it."
        )
    client.save(update_fields=["credit_balance"])
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


def _lock_client_for_credit(client_id: int) -> Client:
    try:
        return Client.objects.select_for_update(of=("self",)).select_related("currency").get(pk=client_id)
    except Client.DoesNotExist:
        raise ValidationError(f"There is no client #{client_id}.") from None


def credit_add(*, client_id: int, amount: Decimal, reason: str, actor: Actor) -> Transaction:
    reason = _credit_reason(reason)
    with transaction.atomic():
        client = _lock_client_for_credit(client_id)
        money_validate(amount, client.currency)
        entry = _credit_entry(
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
        client = _lock_client_for_credit(client_id)
        money_validate(amount, client.currency)
        entry = _credit_entry(
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
        invoice = _lock_invoice(invoice_id)
        if client_id is not None and invoice.client_id != client_id:
            raise ValidationError(f"There is no invoice #{invoice_id}.")
        client = Client.objects.select_for_update(of=("self",)).select_related("currency").get(pk=invoice.client_id)
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
    entry = _credit_entry(
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
    mark_paid_if_settled(invoice, at=timezone.now(), actor=actor)
    return entry


def credit_return_from_invoice(*, invoice: Invoice, actor: Actor) -> None:
    """Give back to the client's credit what an invoice being cancelled holds: its credit and partial payments
    (the money now lives in the credit balance, so the invoice no longer counts it). The caller holds the
    invoice's lock."""
    returned = invoice.credit_applied + invoice.amount_paid
    client = _lock_client(invoice.client_id)
    _credit_entry(
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
