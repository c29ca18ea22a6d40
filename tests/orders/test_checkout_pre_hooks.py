"""Checkout runs the ShoppingCartValidateCheckout pre-hooks with the cart's plain values before it writes: a veto
refuses the checkout with its reason, on the cart page too, and nothing is written."""

from decimal import Decimal

import pytest
from django.urls import reverse

from billing.cycles import BillingCycle
from billing.models import Invoice, Transaction
from notifications.hooks import Veto, pre_hook, unregister_pre_hook
from notifications.models import ActivityLog, Event
from orders.models import Order, Promotion
from orders.services import CartItem, order_place
from provisioning.models import Domain, Service

pytestmark = pytest.mark.django_db

REASON = "We do not sell to this region yet."


@pytest.fixture
def seen():
    """A pre-hook that records what it was given and vetoes when told to."""
    calls = {"payloads": [], "veto": True}

    def validate(event):
        calls["payloads"].append(event.payload)
        if calls["veto"]:
            raise Veto(REASON)

    pre_hook("ShoppingCartValidateCheckout")(validate)
    yield calls
    unregister_pre_hook("ShoppingCartValidateCheckout", validate)


def _written():
    return [
        model.objects.count() for model in (Order, Service, Domain, Invoice, Transaction, Event, ActivityLog, Promotion)
    ]


def test_a_veto_refuses_the_checkout_and_writes_nothing(seen, customer, hosting, domain_product):
    before = _written()
    with pytest.raises(Veto, match=REASON):
        order_place(
            client=customer,
            items=[
                CartItem(product_id=hosting.pk, billing_cycle=BillingCycle.MONTHLY, domain="Shop.Example.com"),
                CartItem(product_id=domain_product.pk, billing_cycle=BillingCycle.ANNUALLY, domain="shop.example"),
            ],
            actor=None,
            ip_address="203.0.113.9",
        )
    assert _written() == before
    (payload,) = seen["payloads"]
    assert payload == {
        "client_id": customer.pk,
        "currency": "USD",
        "promo_code": "",
        "ip_address": "203.0.113.9",
        "items": [
            {
                "product_id": hosting.pk,
                "product_name": hosting.name,
                "billing_cycle": "monthly",
                "price": "4.99",
                "setup_fee": "2.00",
                "domain": "shop.example.com",
                "domain_action": "register",
            },
            {
                "product_id": domain_product.pk,
                "product_name": domain_product.name,
                "billing_cycle": "annually",
                "price": "12.99",
                "setup_fee": "0.00",
                "domain": "shop.example",
                "domain_action": "register",
            },
        ],
    }


def test_without_a_veto_the_checkout_goes_on(seen, customer, hosting, place):
    seen["veto"] = False
    order = place(customer, CartItem(product_id=hosting.pk, billing_cycle=BillingCycle.MONTHLY, domain="a.example"))
    assert order.status == Order.Status.PENDING and order.invoice.total == Decimal("6.99")
    assert len(seen["payloads"]) == 1


def test_the_client_sees_the_reason_on_the_cart_page_and_keeps_the_cart(seen, client, customer, hosting):
    client.force_login(customer.user)
    client.post(
        reverse("clientarea:store_product", args=[hosting.pk]), {"billing_cycle": "monthly", "domain": "a.example"}
    )
    before = _written()
    response = client.post(reverse("clientarea:checkout"), {"accept_terms": "on", "promo_code": ""}, follow=True)
    assert response.redirect_chain[-1][0] == reverse("clientarea:cart")
    assert REASON in response.content.decode()
    assert _written() == before
    assert len(client.session["cart"]) == 1
