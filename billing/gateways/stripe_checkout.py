"""Stripe Checkout: the client pays on Stripe's hosted page, so no card data touches our pages or database.
A webhook (checked by its Stripe-Signature header) tells us the payment succeeded.

Each call builds its own StripeClient from this gateway's settings (never stripe.api_key or other module
globals), so configurations never leak into each other. The optional `api_base` setting points the client at
another address than Stripe's (a local Stripe mock in tests)."""

from __future__ import annotations

import hashlib
import json
import logging
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import stripe
from django.core.exceptions import ValidationError

from billing.gateways.base import (
    EventIgnored,
    EventOutcome,
    EventRefused,
    Gateway,
    GatewayError,
    IncomingEvent,
    PaymentConfirmed,
    PaymentDeclined,
    PaymentStart,
    WebhookRejected,
)
from billing.models import Currency, GatewayEvent, Invoice
from billing.money import ZERO, from_minor_units, quantize, to_minor_units
from core.inputs import id_parse

if TYPE_CHECKING:
    from billing.models import Transaction

logger = logging.getLogger(__name__)

WEBHOOK_TOLERANCE_SECONDS = 300
PAID_SESSION_EVENTS = frozenset({"checkout.session.completed", "checkout.session.async_payment_succeeded"})
# One retry of a 5xx, 409 or dropped connection: safe because every call carries an idempotency key.
NETWORK_RETRIES = 1
TIMEOUT_SECONDS = (5, 20)  # connect, read: the client waits on the page while we talk to Stripe

# Stripe counts amounts of these currencies in whole units and of these in thousandths; every other currency
# (ISK, HUF and TWD included) in hundredths. https://docs.stripe.com/currencies#zero-decimal
STRIPE_ZERO_DECIMAL = frozenset(
    {"BIF", "CLP", "DJF", "GNF", "JPY", "KMF", "KRW", "MGA", "PYG", "RWF", "UGX", "VND", "VUV", "XAF", "XOF", "XPF"}
)
STRIPE_THREE_DECIMAL = frozenset({"BHD", "JOD", "KWD", "OMR", "TND"})

# Refusals of a Checkout Session the client can act on (pay another way); every other 4xx is our fault.
CLIENT_CAUSED_CODES = {
    "amount_too_small": "{amount} is less than Stripe accepts for a card payment: choose another payment method.",
    "amount_too_large": "{amount} is more than Stripe accepts for a card payment: choose another payment method.",
}


def stripe_decimal_places(currency_code: str) -> int:
    code = currency_code.upper()
    if code in STRIPE_ZERO_DECIMAL:
        return 0
    if code in STRIPE_THREE_DECIMAL:
        return 3
    return 2


def to_stripe_amount(amount: Decimal, currency: Currency) -> int:
    """The amount in Stripe's minor unit of the currency (which may not be the portal's, e.g. JPY set up with
    2 places), rounded ROUND_HALF_UP; an amount Stripe's unit cannot hold exactly is refused, never rounded."""
    places = stripe_decimal_places(currency.code)
    if quantize(amount, places) != amount:
        raise ValidationError(
            f"Stripe takes {currency.code} in steps of {Decimal(1).scaleb(-places)}: "
            f"{currency.format(amount)} cannot be charged through Stripe."
        )
    return to_minor_units(amount, places)


def _header(headers: dict[str, str], name: str) -> str:
    return next((value for key, value in headers.items() if key.lower() == name.lower()), "")


def _checkout_session(payload: dict[str, Any]) -> dict[str, Any]:
    data = payload.get("data")
    session = data.get("object") if isinstance(data, dict) else None
    return session if isinstance(session, dict) else {}


def _invoice_reference(session: dict[str, Any]) -> str:
    """The invoice id we put on the session when we created it ("" when the session is not one of ours)."""
    metadata = session.get("metadata")
    reference = metadata.get("invoice_id") if isinstance(metadata, dict) else None
    return str(reference or session.get("client_reference_id") or "").strip()


def _payment_reference(session: dict[str, Any]) -> str:
    """What identifies the money: the payment intent (shared by both events of one payment), else the session."""
    intent = session.get("payment_intent")
    if isinstance(intent, dict):  # expanded by an API version or an endpoint setting
        intent = intent.get("id")
    return str(intent or session.get("id") or "")


class StripeCheckout(Gateway):
    code = "stripe"
    default_name = "Card (Stripe)"
    setting_fields = {
        "secret_key": "Secret API key (sk_live_... or sk_test_...).",
        "webhook_secret": "Signing secret of the webhook endpoint (whsec_...).",
    }
    secret_fields = frozenset({"secret_key", "webhook_secret"})
    supports_refund = True
    supports_webhook = True
    redirect_origins = ("https://checkout.stripe.com",)  # where a Checkout Session's url points

    # --- talking to Stripe ---------------------------------------------------------------------------------

    def _client(self) -> stripe.StripeClient:
        secret_key = self.setting("secret_key")
        if not secret_key:
            raise GatewayError(f"{self.name} is not configured: secret_key missing.")
        return stripe.StripeClient(
            secret_key,
            base_addresses={"api": self.setting("api_base", stripe.DEFAULT_API_BASE)},
            max_network_retries=NETWORK_RETRIES,
            http_client=stripe.RequestsClient(timeout=TIMEOUT_SECONDS),
        )

    def _fault(self, doing: str, error: stripe.StripeError) -> GatewayError:
        body = error.json_body if isinstance(error.json_body, dict) else {}
        details = body.get("error") if isinstance(body.get("error"), dict) else {}
        code = error.code or details.get("code") or "-"
        message = (
            f"Stripe could not {doing}: {type(error).__name__} (HTTP {error.http_status or '-'}, code {code}, "
            f"request {error.request_id or '-'}): {error.user_message or error}"
        )
        logger.warning("%s", message)
        return GatewayError(message)

    # --- paying --------------------------------------------------------------------------------------------

    def start_payment(
        self, *, invoice: Invoice, amount: Decimal, return_url: str, cancel_url: str, actor: Any
    ) -> PaymentStart:
        currency = invoice.currency
        reference = str(invoice.pk)
        params: dict[str, Any] = {
            "mode": "payment",
            "line_items": [
                {
                    "quantity": 1,
                    "price_data": {
                        "currency": currency.code.lower(),
                        "unit_amount": to_stripe_amount(amount, currency),
                        "product_data": {"name": str(invoice)},
                    },
                }
            ],
            "client_reference_id": reference,
            "metadata": {"invoice_id": reference},
            "payment_intent_data": {"metadata": {"invoice_id": reference}},
            "success_url": return_url,
            "cancel_url": cancel_url,
        }
        try:
            session = (
                self._client()
                .v1.checkout.sessions.create(params, {"idempotency_key": self._checkout_key(invoice, params)})
                .to_dict()
            )
        except stripe.CardError as error:
            raise PaymentDeclined(error.user_message or "Your card was declined.") from error
        except stripe.InvalidRequestError as error:
            if error.code in CLIENT_CAUSED_CODES:
                raise PaymentDeclined(CLIENT_CAUSED_CODES[error.code].format(amount=currency.format(amount))) from error
            raise self._fault(f"create a Checkout Session for {invoice}", error) from error
        except stripe.StripeError as error:
            raise self._fault(f"create a Checkout Session for {invoice}", error) from error
        if not session.get("url"):
            raise GatewayError(f"Stripe created Checkout Session {session.get('id')} for {invoice} without a URL.")
        return PaymentStart(redirect_url=session["url"])

    @staticmethod
    def _checkout_key(invoice: Invoice, params: dict[str, Any]) -> str:
        """The same request for the same state of the invoice gets the same key, so a double click makes one
        session; once the invoice changes (a payment, a new line), updated_at moves and so does the key."""
        state = json.dumps([invoice.pk, invoice.updated_at.isoformat(), params], sort_keys=True)
        return f"portal-checkout-{invoice.pk}-{hashlib.sha256(state.encode()).hexdigest()[:32]}"

    # --- webhooks ------------------------------------------------------------------------------------------

    def parse_webhook(self, *, body: bytes, headers: dict[str, str]) -> IncomingEvent:
        secret = self.setting("webhook_secret")
        if not secret:
            raise WebhookRejected(f"{self.name} has no webhook_secret configured: no event can be verified.")
        signature = _header(headers, "Stripe-Signature")
        if not signature:
            raise WebhookRejected("No Stripe-Signature header.")
        try:
            stripe.WebhookSignature.verify_header(body, signature, secret, tolerance=WEBHOOK_TOLERANCE_SECONDS)
        except stripe.SignatureVerificationError as error:
            raise WebhookRejected(f"Bad Stripe-Signature: {error.user_message}") from None
        except UnicodeDecodeError:
            raise WebhookRejected("The body is not UTF-8 text.") from None
        try:
            payload = json.loads(body)
        except ValueError:
            raise WebhookRejected("The body is not JSON.") from None
        if not isinstance(payload, dict) or payload.get("object") != "event":
            raise WebhookRejected("The body is not a Stripe (snapshot) event.")
        event_id, event_type = payload.get("id"), payload.get("type")
        if not (isinstance(event_id, str) and event_id and isinstance(event_type, str) and event_type):
            raise WebhookRejected("The event has no id or type.")
        session = _checkout_session(payload)
        if event_type in PAID_SESSION_EVENTS and session.get("payment_status") == "paid":
            reference = _invoice_reference(session)
            invoice_id = id_parse(reference)
            if reference and not (invoice_id and Invoice.objects.filter(pk=invoice_id).exists()):
                raise WebhookRejected(f"Unknown invoice {reference!r} in Checkout Session {session.get('id')}.")
        return IncomingEvent(event_id=event_id, event_type=event_type, payload=payload)

    def read_event(self, event: GatewayEvent) -> EventOutcome:
        if event.event_type not in PAID_SESSION_EVENTS:
            return EventIgnored(event.event_type)
        session = _checkout_session(event.payload)
        session_id = session.get("id", "?")
        if session.get("payment_status") != "paid":
            # Paid later by a delayed method: checkout.session.async_payment_succeeded records it then.
            return EventIgnored(f"{event.event_type} for {session_id} is {session.get('payment_status')}, not paid")
        reference = _invoice_reference(session)
        if not reference:
            return EventIgnored(f"Checkout Session {session_id} names no invoice of ours")
        amount_total, currency_code = session.get("amount_total"), session.get("currency")
        invoice_id = id_parse(reference)  # ASCII digits only: "²".isdigit() is true, and int() refuses it
        if invoice_id is None or not isinstance(amount_total, int) or not isinstance(currency_code, str):
            return EventRefused(f"Checkout Session {session_id} has no usable invoice id, amount_total or currency.")
        currency_code = currency_code.upper()
        currency = Currency.objects.filter(code=currency_code).first()
        if currency is None:  # the service refuses the currency against the invoice's, with a clear message
            amount_minor = amount_total
        else:
            amount = from_minor_units(amount_total, stripe_decimal_places(currency_code))
            amount_minor = to_minor_units(amount, currency.decimal_places)
            if from_minor_units(amount_minor, currency.decimal_places) != amount:
                return EventRefused(
                    f"Checkout Session {session_id} paid {amount} {currency_code}, finer than the portal's "
                    f"{currency.decimal_places} decimal places for {currency_code}."
                )
        return PaymentConfirmed(
            invoice_id=invoice_id,
            amount_minor=amount_minor,
            currency_code=currency_code,
            gateway_transaction_id=_payment_reference(session),
        )

    # --- refunds -------------------------------------------------------------------------------------------

    def refund(self, *, payment: Transaction, amount: Decimal) -> str:
        reference = payment.gateway_transaction_id
        if reference.startswith("pi_"):
            target = {"payment_intent": reference}
        elif reference.startswith("ch_"):
            target = {"charge": reference}
        else:
            raise GatewayError(
                f"{payment} has no Stripe payment intent to refund: refund it in the Stripe dashboard, "
                "then record it as sent by hand."
            )
        amount_minor = to_stripe_amount(amount, payment.currency)
        refunded = sum((earlier.amount_out for earlier in payment.refunds.all()), ZERO)
        refunded_minor = to_minor_units(refunded, payment.currency.decimal_places)
        params: dict[str, Any] = {
            **target,
            "amount": amount_minor,
            "metadata": {"invoice_id": str(payment.invoice_id), "payment_id": str(payment.pk)},
        }
        # The same refund asked twice (a double click, or a retry after recording failed) is made once; a second
        # refund of the same amount comes after the first is recorded, so it gets its own key.
        idempotency_key = f"portal-refund-{payment.pk}-{amount_minor}-after-{refunded_minor}"
        try:
            refund = self._client().v1.refunds.create(params, {"idempotency_key": idempotency_key}).to_dict()
        except stripe.StripeError as error:
            raise self._fault(f"refund {payment.currency.format(amount)} of {reference}", error) from error
        if refund.get("status") in ("failed", "canceled"):
            raise GatewayError(f"Stripe refund {refund.get('id')} of {reference} is {refund.get('status')}.")
        return str(refund["id"])
