"""Every client-area URL that takes an id answers 404 for another client's object, for GET and POST alike:
a client never learns that someone else's invoice or service exists."""

import pytest
from django.test import Client as HttpClient
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from billing.cycles import BillingCycle
from notifications.models import OutboundEmail
from orders.services import CartItem, order_place
from tests.factories import ClientFactory, DomainFactory

# Each id a client-area URL can take, and which of the stranger's objects to try it with. A new URL with an id
# that is not listed here fails test_every_id_taking_url_is_covered until someone says how it is scoped.
PUBLIC_IDS = {"product_id"}  # the catalog is the same for everyone; hidden products are 404 for all


def _clientarea_patterns():
    resolver = get_resolver()
    found = []

    def walk(patterns, prefix, namespace):
        for entry in patterns:
            if isinstance(entry, URLResolver):
                walk(entry.url_patterns, prefix + str(entry.pattern), entry.namespace or namespace)
            elif isinstance(entry, URLPattern) and namespace == "clientarea":
                found.append((entry.name, list(entry.pattern.converters)))

    walk(resolver.url_patterns, "", None)
    return found


@pytest.fixture
def stranger_objects(hosting, usd, place):
    stranger = ClientFactory(currency=usd, contact_name="Stranger")
    order = place(
        stranger, CartItem(product_id=hosting.pk, billing_cycle=BillingCycle.MONTHLY, domain="stranger.example.org")
    )
    return {
        "invoice_id": order.invoice_id,
        "service_id": order.services.get().pk,
        "domain_id": DomainFactory(client=stranger, name="strangers.example", registrar="scripted_registrar").pk,
        "change": "save_lock",
        "gateway_code": "sandbox",
        # Their order confirmation, as if sent: it is in their history, never in ours.
        "email_id": _sent(OutboundEmail.objects.get(client_id=stranger.pk, template="order_confirmation")),
    }


def _sent(email) -> int:
    OutboundEmail.objects.filter(pk=email.pk).update(status=OutboundEmail.Status.SENT, subject="Your order")
    return email.pk


def test_every_id_taking_url_is_covered(stranger_objects):
    for name, converters in _clientarea_patterns():
        for kwarg in converters:
            if kwarg in PUBLIC_IDS or kwarg == "index":
                continue
            assert kwarg in stranger_objects, f"clientarea:{name} takes {kwarg}: say how it is scoped in this test"


def test_another_clients_ids_are_404_on_every_client_area_url(client, customer, stranger_objects, hosting):
    # The logged-in client has objects of their own, so a 404 is about scoping, not an empty database.
    order_place(
        client=customer,
        actor=None,
        items=[CartItem(product_id=hosting.pk, billing_cycle=BillingCycle.MONTHLY, domain="mine.example.com")],
    )
    client.force_login(customer.user)
    checked = 0
    for name, converters in _clientarea_patterns():
        scoped = [kwarg for kwarg in converters if kwarg not in PUBLIC_IDS and kwarg != "index"]
        if not any(kwarg.endswith("_id") for kwarg in scoped):
            continue
        url = reverse(f"clientarea:{name}", kwargs={kwarg: stranger_objects[kwarg] for kwarg in converters})
        for method in ("get", "post"):
            response = getattr(client, method)(url)
            assert response.status_code in (404, 405), f"{method.upper()} {url} answered {response.status_code}"
            if response.status_code == 405:  # the method is not allowed: try the one that is
                continue
            checked += 1
    assert checked >= 6  # invoice detail, pay, sandbox charge, apply credit, pdf, service detail


def test_client_area_forms_need_the_csrf_token(customer, pending_order):
    browser = HttpClient(enforce_csrf_checks=True)
    browser.force_login(customer.user)
    for url in (
        reverse("clientarea:invoice_apply_credit", args=[pending_order.invoice_id]),
        reverse("clientarea:invoice_pay", args=[pending_order.invoice_id, "sandbox"]),
        reverse("clientarea:sandbox_charge", args=[pending_order.invoice_id]),
        reverse("clientarea:checkout"),
        reverse("clientarea:profile"),
    ):
        assert browser.post(url, {"outcome": "approve"}).status_code == 403, url
    pending_order.invoice.refresh_from_db()
    assert pending_order.invoice.status == "unpaid"
