"""A pretend card gateway for demos and browser tests. It is offered only when DEBUG is on or
PORTAL_SANDBOX_GATEWAY says so. "Approve" stores a charge event and applies it through the same task and
service a Stripe webhook goes through, so a demo exercises the real payment path; no card data is asked for."""

from __future__ import annotations

import secrets
from decimal import Decimal
from typing import Any

from billing.gateways.base import (
    Gateway,
    IncomingEvent,
    PaymentConfirmed,
    PaymentDeclined,
    PaymentStart,
    sandbox_allowed,
)
from billing.models import GatewayEvent, Invoice
from billing.money import to_minor_units


class SandboxCard(Gateway):
    code = "sandbox"
    default_name = "Test card (sandbox)"
    supports_refund = True

    def unavailable_reason(self) -> str:
        if not sandbox_allowed():
            return "The sandbox gateway is only offered with DEBUG on or PORTAL_SANDBOX_GATEWAY=true."
        return super().unavailable_reason()

    def start_payment(
        self, *, invoice: Invoice, amount: Decimal, return_url: str, cancel_url: str, actor: Any
    ) -> PaymentStart:
        return PaymentStart(form_template="billing/sandbox_pay.html")

    def charge(self, *, invoice: Invoice, amount: Decimal, approve: bool) -> IncomingEvent:
        """Pretend to charge the card: the event a real gateway would send us afterwards."""
        if not approve:
            raise PaymentDeclined("The sandbox card was declined (you chose Decline). No money moved.")
        charge_id = f"sbx_ch_{secrets.token_hex(12)}"
        return IncomingEvent(
            event_id=f"sbx_evt_{secrets.token_hex(12)}",
            event_type="charge.succeeded",
            payload={
                "charge_id": charge_id,
                "invoice_id": invoice.pk,
                "amount_minor": to_minor_units(amount, invoice.currency.decimal_places),
                "currency": invoice.currency.code,
            },
        )

    def read_event(self, event: GatewayEvent) -> PaymentConfirmed:
        return PaymentConfirmed(
            invoice_id=int(event.payload["invoice_id"]),
            amount_minor=int(event.payload["amount_minor"]),
            currency_code=str(event.payload["currency"]),
            gateway_transaction_id=str(event.payload["charge_id"]),
        )

    def refund(self, *, payment, amount: Decimal) -> str:
        return f"sbx_re_{secrets.token_hex(12)}"
