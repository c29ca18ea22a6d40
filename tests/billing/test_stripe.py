"""The Stripe Checkout gateway: sessions for the invoice's balance, signed webhooks applied once, refunds.

Stripe's API is replaced at the HTTP boundary by tests/billing/fake_stripe.py (the official client still
encodes, signs and interprets every call); webhooks are built and signed here and posted to the real endpoint."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from billing.gateways import GatewayError, GatewayNotAvailable, PaymentDeclined, StripeCheckout, gateway_for
from billing.models import GatewayConfig, GatewayEvent, Invoice, InvoiceItem, Transaction
from billing.services import InvoiceLine, invoice_create, payment_record, payment_start
from billing.services.gateway_events import gateway_event_apply
from billing.services.refunds import RefundMethod, payment_refund
from notifications.models import Event
from tests.billing.fake_stripe import FakeStripe
from tests.factories import ClientFactory, CurrencyFactory

SECRET_KEY = "sk_test_portal"
WEBHOOK_SECRET = "whsec_portal_test"
RETURN_URL = "https://portal.example.com/invoices/1/paid/"
CANCEL_URL = "https://portal.example.com/invoices/1/"


@pytest.fixture
def fake_stripe():
    fake = FakeStripe().start()
    yield fake
    fake.stop()


@pytest.fixture
def stripe_gateway(db, fake_stripe) -> StripeCheckout:
    GatewayConfig.objects.update_or_create(
        code="stripe",
        defaults={
            "display_name": "Card (Stripe)",
            "enabled": True,
            "settings": {"secret_key": SECRET_KEY, "webhook_secret": WEBHOOK_SECRET, "api_base": fake_stripe.base_url},
        },
    )
    gateway = gateway_for("stripe")
    assert isinstance(gateway, StripeCheckout)
    return gateway


def make_invoice(client, amount: str = "19.99") -> Invoice:
    return invoice_create(
        client=client,
        lines=[InvoiceLine(kind=InvoiceItem.Kind.MANUAL, description="Hosting", amount=Decimal(amount))],
        actor=None,
    )


def start(gateway: StripeCheckout, invoice: Invoice, amount: Decimal | None = None):
    """A Stripe payment started as the client area starts it: payment_start checks, then asks the gateway."""
    return payment_start(
        invoice_id=invoice.pk,
        gateway_code=gateway.code,
        amount=invoice.balance_due if amount is None else amount,
        return_url=RETURN_URL,
        cancel_url=CANCEL_URL,
        actor=None,
    )


# --- starting a payment ----------------------------------------------------------------------------------------


def test_starting_a_payment_creates_a_checkout_session_for_the_balance_in_cents(stripe_gateway, fake_stripe, customer):
    invoice = make_invoice(customer, "19.99")

    started = start(stripe_gateway, invoice)

    [request] = fake_stripe.requests
    assert (request.method, request.path) == ("POST", "/v1/checkout/sessions")
    assert request.api_key == SECRET_KEY
    assert request.form == {
        "mode": "payment",
        "line_items[0][quantity]": "1",
        "line_items[0][price_data][currency]": "usd",
        "line_items[0][price_data][unit_amount]": "1999",
        "line_items[0][price_data][product_data][name]": f"Invoice {invoice.number}",
        "client_reference_id": str(invoice.pk),
        "metadata[invoice_id]": str(invoice.pk),
        "payment_intent_data[metadata][invoice_id]": str(invoice.pk),
        "success_url": RETURN_URL,
        "cancel_url": CANCEL_URL,
    }
    assert request.idempotency_key.startswith(f"portal-checkout-{invoice.pk}-")
    assert started.redirect_url == "https://checkout.stripe.test/c/pay/cs_test_fake1"
    assert (started.instructions, started.form_template) == ("", "")


def test_a_part_of_the_balance_is_charged_as_asked(stripe_gateway, fake_stripe, customer):
    invoice = make_invoice(customer, "100.00")

    start(stripe_gateway, invoice, Decimal("40.05"))

    assert fake_stripe.requests[0].form["line_items[0][price_data][unit_amount]"] == "4005"


def test_a_zero_decimal_currency_is_sent_in_whole_units(stripe_gateway, fake_stripe, db):
    yen = CurrencyFactory(code="JPY", prefix="¥", decimal_places=0)
    invoice = make_invoice(ClientFactory(currency=yen), "1500")

    start(stripe_gateway, invoice)

    form = fake_stripe.requests[0].form
    assert (form["line_items[0][price_data][currency]"], form["line_items[0][price_data][unit_amount]"]) == (
        "jpy",
        "1500",
    )


def test_stripe_counts_yen_in_whole_units_even_when_the_portal_gives_it_cents(stripe_gateway, fake_stripe, db):
    yen = CurrencyFactory(code="JPY", prefix="¥", decimal_places=2)
    client = ClientFactory(currency=yen)

    start(stripe_gateway, make_invoice(client, "1500.00"))
    assert fake_stripe.requests[0].form["line_items[0][price_data][unit_amount]"] == "1500"

    with pytest.raises(ValidationError, match="cannot be charged through Stripe"):
        start(stripe_gateway, make_invoice(client, "1500.50"))
    assert len(fake_stripe.requests) == 1


def test_a_double_click_gets_the_same_checkout_session(stripe_gateway, fake_stripe, customer):
    invoice = make_invoice(customer, "19.99")

    first = start(stripe_gateway, invoice)
    second = start(stripe_gateway, Invoice.objects.get(pk=invoice.pk))

    assert first.redirect_url == second.redirect_url
    first_key, second_key = (request.idempotency_key for request in fake_stripe.requests)
    assert first_key == second_key


def test_a_changed_invoice_gets_a_new_checkout_session(stripe_gateway, fake_stripe, customer):
    invoice = make_invoice(customer, "19.99")
    first = start(stripe_gateway, invoice)
    payment_record(invoice_id=invoice.pk, amount=Decimal("5.00"), gateway="banktransfer", actor=None)

    second = start(stripe_gateway, Invoice.objects.get(pk=invoice.pk))

    assert first.redirect_url != second.redirect_url
    assert fake_stripe.requests[1].form["line_items[0][price_data][unit_amount]"] == "1499"
    assert fake_stripe.requests[0].idempotency_key != fake_stripe.requests[1].idempotency_key


def test_a_stripe_server_error_is_a_gateway_error_after_one_retry_with_the_same_key(
    stripe_gateway, fake_stripe, customer
):
    fake_stripe.fail_next(500, error_type="api_error", message="Something went wrong on Stripe's end.", times=2)

    with pytest.raises(GatewayError, match=r"Checkout Session .*HTTP 500.*Something went wrong"):
        start(stripe_gateway, make_invoice(customer))

    first, retry = fake_stripe.requests
    assert first.idempotency_key == retry.idempotency_key
    assert first.form == retry.form


def test_a_card_error_is_a_decline_the_client_sees(stripe_gateway, fake_stripe, customer):
    fake_stripe.fail_next(402, error_type="card_error", code="card_declined", message="Your card was declined.")

    with pytest.raises(PaymentDeclined, match=r"^Your card was declined\.$"):
        start(stripe_gateway, make_invoice(customer))


def test_an_amount_stripe_will_not_take_is_a_decline_the_client_sees(stripe_gateway, fake_stripe, customer):
    fake_stripe.fail_next(
        400, error_type="invalid_request_error", code="amount_too_small", message="Amount must be at least $0.50."
    )

    with pytest.raises(PaymentDeclined, match=r"^\$0.30 is less than Stripe accepts"):
        start(stripe_gateway, make_invoice(customer, "0.30"))


@pytest.mark.parametrize(
    ("status", "error_type", "code"),
    [
        (400, "invalid_request_error", "parameter_invalid_integer"),
        (401, "invalid_request_error", "api_key_expired"),
        (429, "invalid_request_error", "rate_limit"),
    ],
)
def test_a_refusal_caused_by_us_is_a_gateway_error_not_a_decline(
    stripe_gateway, fake_stripe, customer, status, error_type, code
):
    fake_stripe.fail_next(status, error_type=error_type, code=code)

    with pytest.raises(GatewayError, match=f"HTTP {status}, code {code}"):
        start(stripe_gateway, make_invoice(customer))


def test_an_unreachable_stripe_is_a_gateway_error(stripe_gateway, customer):
    config = GatewayConfig.objects.get(code="stripe")
    config.settings["api_base"] = "http://127.0.0.1:9"  # discard port: nothing listens
    config.save()

    with pytest.raises(GatewayError, match="APIConnectionError"):
        start(gateway_for("stripe"), make_invoice(customer))


@pytest.mark.parametrize(
    ("amount", "message"),
    [
        (Decimal("20.00"), "more than the \\$19.99 due"),
        (Decimal("-1.00"), "more than zero"),
        (Decimal("0"), "more than zero"),
        (Decimal("1.005"), "more than 2 decimal places"),
    ],
)
def test_a_bad_amount_is_refused_before_stripe_is_asked(stripe_gateway, fake_stripe, customer, amount, message):
    with pytest.raises(ValidationError, match=message):
        start(stripe_gateway, make_invoice(customer, "19.99"), amount)
    assert fake_stripe.requests == []


def test_a_paid_invoice_cannot_be_paid_again(stripe_gateway, fake_stripe, customer):
    invoice = make_invoice(customer, "19.99")
    payment_record(invoice_id=invoice.pk, amount=Decimal("19.99"), gateway="banktransfer", actor=None)

    with pytest.raises(ValidationError, match="is Paid"):
        start(stripe_gateway, Invoice.objects.get(pk=invoice.pk), Decimal("19.99"))
    assert fake_stripe.requests == []


def test_a_disabled_or_unconfigured_gateway_starts_no_payment(stripe_gateway, fake_stripe, customer):
    invoice = make_invoice(customer)
    GatewayConfig.objects.filter(code="stripe").update(enabled=False)
    with pytest.raises(GatewayNotAvailable, match="disabled"):
        start(gateway_for("stripe"), invoice)

    GatewayConfig.objects.filter(code="stripe").update(enabled=True, settings={"webhook_secret": WEBHOOK_SECRET})
    with pytest.raises(GatewayNotAvailable, match="secret_key missing"):
        start(gateway_for("stripe"), invoice)
    assert fake_stripe.requests == []


def test_api_base_is_an_optional_setting():
    assert set(StripeCheckout.setting_fields) == {"secret_key", "webhook_secret"}


# --- webhooks --------------------------------------------------------------------------------------------------


def session_event(
    invoice_id: int | str,
    *,
    amount_minor: int,
    event_id: str = "evt_1",
    event_type: str = "checkout.session.completed",
    payment_intent: str | None = "pi_1",
    payment_status: str = "paid",
    currency: str = "usd",
) -> dict:
    return {
        "id": event_id,
        "object": "event",
        "api_version": "2026-10-28.endive",
        "created": int(time.time()),
        "livemode": False,
        "type": event_type,
        "data": {
            "object": {
                "id": "cs_test_1",
                "object": "checkout.session",
                "mode": "payment",
                "status": "complete",
                "payment_status": payment_status,
                "amount_total": amount_minor,
                "currency": currency,
                "client_reference_id": str(invoice_id),
                "metadata": {"invoice_id": str(invoice_id)},
                "payment_intent": payment_intent,
            }
        },
    }


def signature_for(body: str, *, secret: str = WEBHOOK_SECRET, timestamp: int | None = None) -> str:
    timestamp = int(time.time()) if timestamp is None else timestamp
    digest = hmac.new(secret.encode(), f"{timestamp}.{body}".encode(), hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


@pytest.fixture
def post_event(client, django_capture_on_commit_callbacks):
    """Post an event to the webhook endpoint as Stripe would (signed unless told otherwise), running the
    after-commit work (the apply task, the event dispatch) as a real commit would."""

    def _post(event: dict, *, signature: str | None = "sign", code: str = "stripe"):
        body = json.dumps(event)
        headers = {}
        if signature == "sign":
            headers["HTTP_STRIPE_SIGNATURE"] = signature_for(body)
        elif signature is not None:
            headers["HTTP_STRIPE_SIGNATURE"] = signature
        url = reverse("billing:gateway_webhook", kwargs={"code": code})
        with django_capture_on_commit_callbacks(execute=True):
            return client.post(url, data=body, content_type="application/json", **headers)

    return _post


def counts() -> dict[str, int]:
    return {
        "gateway events": GatewayEvent.objects.count(),
        "transactions": Transaction.objects.count(),
        "events": Event.objects.count(),
    }


def invoice_paid_events(invoice: Invoice) -> int:
    return Event.objects.filter(name="InvoicePaid", payload__invoice_id=invoice.pk).count()


def test_a_correctly_signed_paid_session_marks_the_invoice_paid_once(stripe_gateway, customer, post_event):
    invoice = make_invoice(customer, "19.99")

    response = post_event(session_event(invoice.pk, amount_minor=1999))

    assert response.status_code == 200
    assert response.json() == {"received": True, "duplicate": False}
    stored = GatewayEvent.objects.get()
    assert (stored.gateway, stored.event_id, stored.event_type, stored.status) == (
        "stripe",
        "evt_1",
        "checkout.session.completed",
        GatewayEvent.Status.APPLIED,
    )
    assert stored.payload["data"]["object"]["amount_total"] == 1999
    payment = Transaction.objects.get()
    assert (payment.kind, payment.gateway, payment.gateway_transaction_id, payment.amount_in, payment.invoice) == (
        Transaction.Kind.PAYMENT,
        "stripe",
        "pi_1",
        Decimal("19.99"),
        invoice,
    )
    invoice.refresh_from_db()
    assert (invoice.status, invoice.balance_due, invoice.amount_paid) == (
        Invoice.Status.PAID,
        Decimal("0.00"),
        Decimal("19.99"),
    )
    assert invoice_paid_events(invoice) == 1


def test_a_replayed_event_answers_200_and_changes_nothing(stripe_gateway, customer, post_event):
    invoice = make_invoice(customer, "19.99")
    event = session_event(invoice.pk, amount_minor=1999)
    post_event(event)
    before = counts()

    response = post_event(event)

    assert response.status_code == 200
    assert response.json() == {"received": True, "duplicate": True}
    assert counts() == before
    assert invoice_paid_events(invoice) == 1


def test_the_same_payment_under_another_event_id_is_recorded_once(stripe_gateway, customer, post_event):
    invoice = make_invoice(customer, "19.99")
    post_event(session_event(invoice.pk, amount_minor=1999, event_id="evt_1"))

    response = post_event(
        session_event(
            invoice.pk, amount_minor=1999, event_id="evt_2", event_type="checkout.session.async_payment_succeeded"
        )
    )

    assert response.status_code == 200
    assert Transaction.objects.count() == 1
    second = GatewayEvent.objects.get(event_id="evt_2")
    assert second.status == GatewayEvent.Status.IGNORED
    assert second.error == "ignored: payment pi_1 was recorded before"
    assert invoice_paid_events(invoice) == 1


def test_a_session_without_a_payment_intent_is_recorded_under_the_session_id(stripe_gateway, customer, post_event):
    invoice = make_invoice(customer, "19.99")

    post_event(session_event(invoice.pk, amount_minor=1999, payment_intent=None))

    assert Transaction.objects.get().gateway_transaction_id == "cs_test_1"


def test_a_delayed_payment_is_recorded_when_it_succeeds_not_when_the_session_completes(
    stripe_gateway, customer, post_event
):
    invoice = make_invoice(customer, "19.99")

    post_event(session_event(invoice.pk, amount_minor=1999, event_id="evt_1", payment_status="unpaid"))
    assert GatewayEvent.objects.get(event_id="evt_1").status == GatewayEvent.Status.IGNORED
    assert Transaction.objects.count() == 0

    post_event(
        session_event(
            invoice.pk, amount_minor=1999, event_id="evt_2", event_type="checkout.session.async_payment_succeeded"
        )
    )
    invoice.refresh_from_db()
    assert invoice.status == Invoice.Status.PAID
    assert Transaction.objects.get().gateway_transaction_id == "pi_1"


def test_an_event_of_another_type_is_stored_and_ignored(stripe_gateway, customer, post_event):
    event = {"id": "evt_other", "object": "event", "type": "customer.created", "data": {"object": {"id": "cus_1"}}}

    response = post_event(event)

    assert response.status_code == 200
    stored = GatewayEvent.objects.get()
    assert (stored.status, stored.error) == (GatewayEvent.Status.IGNORED, "ignored: customer.created")
    assert Transaction.objects.count() == 0


def test_a_partial_payment_leaves_the_invoice_unpaid_with_the_balance_due(stripe_gateway, customer, post_event):
    invoice = make_invoice(customer, "19.99")

    post_event(session_event(invoice.pk, amount_minor=1000))

    invoice.refresh_from_db()
    assert (invoice.status, invoice.amount_paid, invoice.balance_due) == (
        Invoice.Status.UNPAID,
        Decimal("10.00"),
        Decimal("9.99"),
    )
    assert invoice_paid_events(invoice) == 0


def test_a_payment_for_an_invoice_paid_meanwhile_becomes_client_credit(stripe_gateway, customer, post_event):
    invoice = make_invoice(customer, "19.99")
    payment_record(invoice_id=invoice.pk, amount=Decimal("19.99"), gateway="banktransfer", actor=None)

    response = post_event(session_event(invoice.pk, amount_minor=1999))

    assert response.status_code == 200
    assert GatewayEvent.objects.get().status == GatewayEvent.Status.APPLIED
    card_payment = Transaction.objects.get(gateway="stripe")
    assert (card_payment.amount_in, card_payment.credit_change) == (Decimal("19.99"), Decimal("19.99"))
    customer.refresh_from_db()
    assert customer.credit_balance == Decimal("19.99")
    invoice.refresh_from_db()
    assert (invoice.status, invoice.amount_paid) == (Invoice.Status.PAID, Decimal("19.99"))
    assert invoice_paid_events(invoice) == 1


def test_a_zero_decimal_currency_payment_is_read_in_whole_units(stripe_gateway, db, post_event):
    yen = CurrencyFactory(code="JPY", prefix="¥", decimal_places=0)
    invoice = make_invoice(ClientFactory(currency=yen), "1500")

    post_event(session_event(invoice.pk, amount_minor=1500, currency="jpy"))

    invoice.refresh_from_db()
    assert (invoice.status, invoice.amount_paid) == (Invoice.Status.PAID, Decimal("1500"))


def test_a_payment_in_another_currency_is_kept_as_a_failed_event(stripe_gateway, customer, post_event):
    invoice = make_invoice(customer, "19.99")

    response = post_event(session_event(invoice.pk, amount_minor=1999, currency="eur"))

    assert response.status_code == 200
    stored = GatewayEvent.objects.get()
    assert stored.status == GatewayEvent.Status.FAILED
    assert "pays in EUR" in stored.error
    assert Transaction.objects.count() == 0


def _stale(body: str) -> str:
    return signature_for(body, timestamp=int(time.time()) - 301)


@pytest.mark.parametrize(
    ("case", "signature", "reason"),
    [
        ("bad signature", lambda body: signature_for(body).replace("v1=", "v1=0"), "Bad Stripe-Signature"),
        ("wrong secret", lambda body: signature_for(body, secret="whsec_someone_else"), "Bad Stripe-Signature"),
        ("stale timestamp", _stale, "tolerance"),
        ("missing header", lambda body: None, "No Stripe-Signature header"),
        ("garbled header", lambda body: "nonsense", "Bad Stripe-Signature"),
    ],
)
def test_a_webhook_that_is_not_genuine_is_refused_and_changes_nothing(
    stripe_gateway, customer, post_event, case, signature, reason
):
    invoice = make_invoice(customer, "19.99")
    event = session_event(invoice.pk, amount_minor=1999)
    before = counts()

    response = post_event(event, signature=signature(json.dumps(event)))

    assert response.status_code == 400
    assert reason in response.content.decode()
    assert counts() == before
    invoice.refresh_from_db()
    assert invoice.status == Invoice.Status.UNPAID


def test_a_signature_just_inside_the_tolerance_is_accepted(stripe_gateway, customer, post_event):
    invoice = make_invoice(customer, "19.99")
    event = session_event(invoice.pk, amount_minor=1999)

    response = post_event(event, signature=signature_for(json.dumps(event), timestamp=int(time.time()) - 290))

    assert response.status_code == 200


def test_a_signed_event_for_an_unknown_invoice_is_refused_and_changes_nothing(stripe_gateway, customer, post_event):
    make_invoice(customer, "19.99")
    before = counts()

    response = post_event(session_event(999999, amount_minor=1999))

    assert response.status_code == 400
    assert "Unknown invoice '999999'" in response.content.decode()
    assert counts() == before


@pytest.mark.parametrize(
    "reference",
    ["²", "١٢", "9223372036854775808", "9" * 30, "0", "-1", "1e3", "\x00", [1], {"id": 1}, 1.5, True],
)
def test_a_signed_event_whose_invoice_reference_is_no_id_is_refused_and_changes_nothing(
    stripe_gateway, customer, post_event, reference
):
    make_invoice(customer, "19.99")
    event = session_event(1, amount_minor=1999)
    event["data"]["object"]["client_reference_id"] = reference
    event["data"]["object"]["metadata"] = {}
    before = counts()

    response = post_event(event)

    assert response.status_code == 400
    assert "Unknown invoice" in response.content.decode()
    assert counts() == before


def test_a_stored_event_whose_invoice_reference_is_no_id_fails_for_good_and_is_kept(stripe_gateway, customer):
    """An event stored before its reference was checked (or by the admin's retry) is kept, Failed with the reason,
    and not retried: no retry can read "²" as an invoice."""
    make_invoice(customer, "19.99")
    payload = session_event(1, amount_minor=1999)
    payload["data"]["object"]["client_reference_id"] = "²"
    payload["data"]["object"]["metadata"] = {}
    event = GatewayEvent.objects.create(
        gateway="stripe", event_id="evt_1", event_type="checkout.session.completed", payload=payload
    )

    applied = gateway_event_apply(event_pk=event.pk)

    assert (applied.status, applied.attempts) == (GatewayEvent.Status.FAILED, 1)
    assert "no usable invoice id" in applied.error
    assert Transaction.objects.count() == 0


def test_a_nul_in_a_signed_event_is_stored_as_a_replacement_character_and_the_payment_recorded(
    stripe_gateway, customer, post_event
):
    """PostgreSQL's jsonb cannot hold \\u0000: the event is kept (the money arrived), its NULs replaced."""
    invoice = make_invoice(customer, "19.99")
    event = session_event(invoice.pk, amount_minor=1999)
    event["data"]["object"]["customer_details"] = {"name": "Eve\x00Smith", "note\x00": ["\x00"]}

    response = post_event(event)

    assert response.status_code == 200
    stored = GatewayEvent.objects.get()
    assert stored.payload["data"]["object"]["customer_details"] == {"name": "Eve\ufffdSmith", "note\ufffd": ["\ufffd"]}
    assert stored.status == GatewayEvent.Status.APPLIED
    invoice.refresh_from_db()
    assert invoice.status == Invoice.Status.PAID


def test_a_body_that_is_not_a_stripe_event_is_refused(stripe_gateway, client, db):
    url = reverse("billing:gateway_webhook", kwargs={"code": "stripe"})
    for body, reason in [("not json", "not JSON"), ('["a list"]', "not a Stripe"), ('{"object": "event"}', "no id")]:
        response = client.post(
            url, data=body, content_type="application/json", HTTP_STRIPE_SIGNATURE=signature_for(body)
        )
        assert (response.status_code, reason in response.content.decode()) == (400, True)
    assert GatewayEvent.objects.count() == 0


def test_without_a_webhook_secret_every_event_is_refused(stripe_gateway, customer, post_event):
    GatewayConfig.objects.filter(code="stripe").update(settings={"secret_key": SECRET_KEY})
    invoice = make_invoice(customer, "19.99")

    response = post_event(session_event(invoice.pk, amount_minor=1999))

    assert response.status_code == 400
    assert "no webhook_secret configured" in response.content.decode()
    assert GatewayEvent.objects.count() == 0


def test_an_unknown_gateway_code_is_not_found(client, db):
    response = client.post("/billing/webhooks/nosuchgateway/", data="{}", content_type="application/json")
    assert response.status_code == 404


def test_the_webhook_takes_only_post(client, db):
    assert client.get(reverse("billing:gateway_webhook", kwargs={"code": "stripe"})).status_code == 405


def _views(patterns, prefix=""):
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            yield from _views(pattern.url_patterns, prefix + str(pattern.pattern))
        elif isinstance(pattern, URLPattern):
            yield prefix + str(pattern.pattern), pattern.callback


def test_the_gateway_webhook_is_the_only_csrf_exempt_view_outside_the_api_which_takes_no_session():
    """DRF exempts its views from CSRF; that is safe only because the API accepts no session (a browser's cookies
    open nothing there): only API credentials over HTTP Basic, or nothing for the schema and its doc page."""
    from rest_framework.authentication import SessionAuthentication

    views = list(_views(get_resolver().url_patterns))
    exempt = {
        f"{callback.__module__}.{callback.__qualname__}"
        for route, callback in views
        if getattr(callback, "csrf_exempt", False) is True and not route.startswith("api/")
    }
    assert exempt == {"billing.webhooks.gateway_webhook"}
    api_views = [callback for route, callback in views if route.startswith("api/")]
    assert api_views
    for callback in api_views:
        authenticators = list(callback.cls().authentication_classes)
        assert not any(issubclass(cls, SessionAuthentication) for cls in authenticators), callback


# --- refunds ---------------------------------------------------------------------------------------------------


def paid_by_card(invoice: Invoice, amount: str = "19.99", intent: str = "pi_refundable") -> Transaction:
    return payment_record(
        invoice_id=invoice.pk, amount=Decimal(amount), gateway="stripe", gateway_transaction_id=intent, actor=None
    ).transaction


def test_a_full_refund_goes_through_stripe_and_refunds_the_invoice(
    stripe_gateway, fake_stripe, customer, django_capture_on_commit_callbacks
):
    invoice = make_invoice(customer, "19.99")
    payment = paid_by_card(invoice)

    with django_capture_on_commit_callbacks(execute=True):
        refund = payment_refund(payment_id=payment.pk, amount=Decimal("19.99"), method=RefundMethod.GATEWAY, actor=None)

    [request] = fake_stripe.requests
    assert (request.path, request.api_key) == ("/v1/refunds", SECRET_KEY)
    assert (request.form["payment_intent"], request.form["amount"]) == ("pi_refundable", "1999")
    assert request.form["metadata[payment_id]"] == str(payment.pk)
    assert request.idempotency_key == f"portal-refund-{payment.pk}-1999-after-0"
    assert (refund.kind, refund.amount_out, refund.gateway, refund.gateway_transaction_id, refund.refund_of) == (
        Transaction.Kind.REFUND,
        Decimal("19.99"),
        "stripe",
        "re_test_fake1",
        payment,
    )
    invoice.refresh_from_db()
    assert invoice.status == Invoice.Status.REFUNDED
    assert Event.objects.filter(name="InvoiceRefunded", payload__invoice_id=invoice.pk).count() == 1


def test_two_equal_partial_refunds_are_two_refunds_at_stripe(stripe_gateway, fake_stripe, customer):
    invoice = make_invoice(customer, "19.99")
    payment = paid_by_card(invoice)

    payment_refund(payment_id=payment.pk, amount=Decimal("5.00"), method=RefundMethod.GATEWAY, actor=None)
    invoice.refresh_from_db()
    assert invoice.status == Invoice.Status.PAID
    payment_refund(payment_id=payment.pk, amount=Decimal("5.00"), method=RefundMethod.GATEWAY, actor=None)

    assert [request.form["amount"] for request in fake_stripe.requests] == ["500", "500"]
    assert [request.idempotency_key for request in fake_stripe.requests] == [
        f"portal-refund-{payment.pk}-500-after-0",
        f"portal-refund-{payment.pk}-500-after-500",
    ]
    assert sorted(payment.refunds.values_list("gateway_transaction_id", flat=True)) == [
        "re_test_fake1",
        "re_test_fake2",
    ]
    invoice.refresh_from_db()
    assert (invoice.status, invoice.amount_refunded) == (Invoice.Status.PAID, Decimal("10.00"))
    assert Event.objects.filter(name="InvoiceRefunded").count() == 0


def test_a_refund_larger_than_paid_is_refused_before_stripe_is_asked(stripe_gateway, fake_stripe, customer):
    payment = paid_by_card(make_invoice(customer, "19.99"))

    with pytest.raises(ValidationError, match="more than the"):
        payment_refund(payment_id=payment.pk, amount=Decimal("20.00"), method=RefundMethod.GATEWAY, actor=None)

    assert fake_stripe.requests == []
    assert payment.refunds.count() == 0


def test_a_refund_stripe_refuses_is_a_gateway_error_and_nothing_is_recorded(stripe_gateway, fake_stripe, customer):
    invoice = make_invoice(customer, "19.99")
    payment = paid_by_card(invoice)
    fake_stripe.fail_next(
        400, error_type="invalid_request_error", code="charge_already_refunded", message="Already refunded."
    )

    with pytest.raises(GatewayError, match="charge_already_refunded"):
        payment_refund(payment_id=payment.pk, amount=Decimal("19.99"), method=RefundMethod.GATEWAY, actor=None)

    assert payment.refunds.count() == 0
    invoice.refresh_from_db()
    assert invoice.status == Invoice.Status.PAID


def test_a_payment_without_a_payment_intent_is_not_refunded_through_stripe(stripe_gateway, fake_stripe, customer):
    payment = paid_by_card(make_invoice(customer, "19.99"), intent="cs_test_no_intent")

    with pytest.raises(GatewayError, match="no Stripe payment intent"):
        payment_refund(payment_id=payment.pk, amount=Decimal("19.99"), method=RefundMethod.GATEWAY, actor=None)

    assert fake_stripe.requests == []
