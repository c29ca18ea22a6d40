"""Gateways that move no money through a third party: bank transfer (an admin records the payment when it
arrives) and account credit (the client's credit balance pays)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from billing.gateways.base import Gateway, PaymentStart
from billing.models import BillingSettings, GatewayEvent, Invoice


class BankTransfer(Gateway):
    code = "banktransfer"
    default_name = "Bank transfer"

    def start_payment(
        self, *, invoice: Invoice, amount: Decimal, return_url: str, cancel_url: str, actor: Any
    ) -> PaymentStart:
        instructions = self.setting("instructions") or BillingSettings.load().bank_transfer_instructions
        reference = invoice.number or f"#{invoice.pk}"
        return PaymentStart(
            instructions=f"{instructions}\n\nAmount: {invoice.currency.format(amount)}\nReference: {reference}"
        )

    def apply_event(self, event: GatewayEvent) -> str:
        raise NotImplementedError("Bank transfers are recorded by an admin, not by callbacks.")


class AccountCredit(Gateway):
    code = "credit"
    default_name = "Account credit"

    def start_payment(
        self, *, invoice: Invoice, amount: Decimal, return_url: str, cancel_url: str, actor: Any
    ) -> PaymentStart:
        from billing.services import credit_apply

        credit_apply(invoice_id=invoice.pk, client_id=invoice.client_id, amount=amount, actor=actor)
        return PaymentStart(done=True)

    def apply_event(self, event: GatewayEvent) -> str:
        raise NotImplementedError("Account credit is applied at once, not by callbacks.")
