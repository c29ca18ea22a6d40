"""A gateway that moves no money through a third party: bank transfer (an admin records the payment when it
arrives). Account credit is not a gateway: applying it is a ledger operation (billing.services.credit_apply)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from billing.gateways.base import Gateway, PaymentStart
from billing.models import BillingSettings, Invoice


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
