"""The one interface every payment gateway implements.

A gateway starts a payment (a redirect to a hosted page, instructions, or a form of ours), turns a callback
into an IncomingEvent to store (after checking it really comes from the gateway), reads a stored event into a
typed outcome (a payment confirmed, an event ignored or refused) and, where it can, refunds. A gateway never
calls a service: billing.services checks before it asks (payment_start) and records what it answers
(gateway_event_apply), so the payment chain runs one way.

Failures are typed, as the user meets them: PaymentDeclined is an expected refusal shown to the client;
GatewayError is a fault on the gateway's side (network, 5xx), logged and retried where that is safe;
WebhookRejected is a callback we do not believe (bad signature, unknown invoice) and answer with 400.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any, ClassVar

from django.conf import settings

if TYPE_CHECKING:
    from billing.models import GatewayConfig, GatewayEvent, Invoice, Transaction


class PaymentDeclined(Exception):
    """The gateway refused the payment; the message is for the client."""


class GatewayError(Exception):
    """The gateway failed (unreachable, error answer). Logged with context; safe operations are retried."""


class WebhookRejected(Exception):
    """A callback that is not genuine or not ours. Answered with 400 and logged; nothing is stored."""


class GatewayNotAvailable(Exception):
    """The gateway is disabled, not configured, or not allowed here (the sandbox outside DEBUG)."""


@dataclass(frozen=True)
class PaymentStart:
    """What the client sees after choosing a gateway: exactly one of these is set."""

    redirect_url: str = ""  # a hosted payment page (Stripe Checkout)
    instructions: str = ""  # bank transfer details
    form_template: str = ""  # a form of ours (the sandbox card form)


@dataclass(frozen=True)
class IncomingEvent:
    """A verified callback, ready to be stored once per (gateway, event_id)."""

    event_id: str
    event_type: str
    payload: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class PaymentConfirmed:
    """A stored event says money arrived for one of our invoices: the services record it."""

    invoice_id: int
    amount_minor: int  # in the portal's minor units of the currency
    currency_code: str
    gateway_transaction_id: str


@dataclass(frozen=True)
class EventIgnored:
    """An event that moves no money of ours (another event type, a session not paid yet, not our invoice)."""

    reason: str


@dataclass(frozen=True)
class EventRefused:
    """An event that cannot be applied as it is (no usable invoice id or amount): Failed for good, not retried."""

    reason: str


EventOutcome = PaymentConfirmed | EventIgnored | EventRefused


class Gateway:
    code: ClassVar[str]
    default_name: ClassVar[str]
    # Settings the admin fills in (name -> help text); secrets are shown masked in the admin.
    setting_fields: ClassVar[dict[str, str]] = {}
    secret_fields: ClassVar[frozenset[str]] = frozenset()
    supports_refund: ClassVar[bool] = False
    supports_webhook: ClassVar[bool] = False
    # Origins start_payment may redirect the client's browser to: the client area's CSP form-action allows them.
    redirect_origins: ClassVar[tuple[str, ...]] = ()

    def __init__(self, config: GatewayConfig) -> None:
        self.config = config

    @property
    def name(self) -> str:
        return self.config.display_name or self.default_name

    def setting(self, key: str, default: str = "") -> str:
        return str(self.config.settings.get(key, default) or default)

    def unavailable_reason(self) -> str:
        """Why this gateway cannot take payments now, or "" when it can."""
        if not self.config.enabled:
            return f"{self.name} is disabled."
        missing = [key for key in self.setting_fields if not self.setting(key)]
        if missing:
            return f"{self.name} is not configured: {', '.join(missing)} missing."
        return ""

    def start_payment(
        self, *, invoice: Invoice, amount: Decimal, return_url: str, cancel_url: str, actor: Any
    ) -> PaymentStart:
        """How the client pays `amount`, which billing.services.payment_start has checked against the invoice."""
        raise NotImplementedError

    def parse_webhook(self, *, body: bytes, headers: dict[str, str]) -> IncomingEvent:
        raise WebhookRejected(f"{self.name} takes no webhooks.")

    def read_event(self, event: GatewayEvent) -> EventOutcome:
        """What a stored event says happened; the services record it."""
        return EventRefused(f"{self.name} takes no callbacks.")

    def refund(self, *, payment: Transaction, amount: Decimal) -> str:
        """Send `amount` of `payment` back; returns the gateway's refund id."""
        raise GatewayError(f"{self.name} cannot refund through the gateway; record the refund by hand.")


def sandbox_allowed() -> bool:
    return bool(settings.DEBUG or settings.PORTAL_SANDBOX_GATEWAY)
