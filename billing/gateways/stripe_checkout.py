"""Stripe Checkout: the client pays on Stripe's hosted page, so no card data touches our pages or database.
A webhook (checked by its Stripe-Signature header) tells us the payment succeeded."""

from __future__ import annotations

from billing.gateways.base import Gateway


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
