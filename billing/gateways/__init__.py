"""Payment gateways behind one interface (billing.gateways.base.Gateway), each enabled and configured in the
admin through its GatewayConfig row."""

from __future__ import annotations

from billing.gateways.base import (
    EventIgnored,
    EventOutcome,
    EventRefused,
    Gateway,
    GatewayError,
    GatewayNotAvailable,
    IncomingEvent,
    PaymentConfirmed,
    PaymentDeclined,
    PaymentStart,
    WebhookRejected,
)
from billing.gateways.offline import BankTransfer
from billing.gateways.sandbox import SandboxCard
from billing.gateways.stripe_checkout import StripeCheckout
from billing.models import GatewayConfig, Invoice

GATEWAY_CLASSES: dict[str, type[Gateway]] = {cls.code: cls for cls in (BankTransfer, StripeCheckout, SandboxCard)}


def gateway_for(code: str) -> Gateway:
    """The gateway with this code and its configuration; GatewayNotAvailable if there is no such gateway."""
    cls = GATEWAY_CLASSES.get(code)
    if cls is None:
        raise GatewayNotAvailable(f"There is no payment gateway {code!r}.")
    config = GatewayConfig.objects.filter(code=code).first() or GatewayConfig(
        code=code, display_name=cls.default_name, enabled=False
    )
    return cls(config)


def gateways_for_invoice(*, invoice: Invoice) -> list[Gateway]:
    """The gateways the client may pay this invoice with now, in the admin's order."""
    if not invoice.is_payable:
        return []
    configs = GatewayConfig.objects.filter(enabled=True, code__in=GATEWAY_CLASSES)
    offered = []
    for config in configs:
        gateway = GATEWAY_CLASSES[config.code](config)
        if gateway.unavailable_reason():
            continue
        offered.append(gateway)
    return offered


__all__ = [
    "GATEWAY_CLASSES",
    "BankTransfer",
    "EventIgnored",
    "EventOutcome",
    "EventRefused",
    "Gateway",
    "GatewayError",
    "GatewayNotAvailable",
    "IncomingEvent",
    "PaymentConfirmed",
    "PaymentDeclined",
    "PaymentStart",
    "SandboxCard",
    "StripeCheckout",
    "WebhookRejected",
    "gateway_for",
    "gateways_for_invoice",
]
