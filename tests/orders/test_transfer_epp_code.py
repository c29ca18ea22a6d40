"""A transfer in's EPP code (issue 18, requirements 2 and 4, and "a wrong EPP code" of its bad input): asked in the
storefront and on Add New Order, required where the TLD says so, refused when a registry could not take it, kept
encrypted (in the cart's session too) and never written anywhere in plain text."""

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.test import TestCase
from django.urls import reverse

from core import crypto
from orders.models import Order
from orders.services import CartItem, order_place
from provisioning.models import Domain, Tld

pytestmark = pytest.mark.django_db
CODE = "Xq7-pL!2 zz#"  # punctuation and a space: a registry's token type allows them


def _transfer(product, name, code, *, years=1, action="transfer") -> CartItem:
    return CartItem(
        product_id=product.pk,
        billing_cycle="annually",
        domain=name,
        domain_action=action,
        years=years,
        epp_code=code,
    )


def _everything_stored() -> str:
    """Every text of every row of the tables a checkout writes, to look for a secret in."""
    with connection.cursor() as cursor:
        texts = []
        for table in connection.introspection.table_names():
            if table.startswith(("provisioning_", "orders_", "billing_", "notifications_")):
                cursor.execute(f'SELECT * FROM "{table}"')  # our own table names, from introspection
                texts.extend(str(row) for row in cursor.fetchall())
    return "\n".join(texts)


def test_the_code_is_kept_encrypted_for_the_transfer_and_nowhere_in_plain_text(customer, domain_product, tld_com):
    order = order_place(client=customer, actor=None, items=[_transfer(domain_product, "mine.com", f"  {CODE} ")])
    domain = order.domains.get()
    assert domain.epp_code_token and CODE not in domain.epp_code_token
    assert crypto.decrypt(domain.epp_code_token) == CODE  # stripped of the spaces around it, not inside
    assert CODE not in _everything_stored()


@pytest.mark.parametrize(
    ("code", "says"),
    [
        ("", "Enter the EPP code of mine.com"),
        ("   ", "Enter the EPP code of mine.com"),
        ("x" * 129, "longer than 128 characters"),
        ("abc\ndef", "line break or a control character"),
        ("abc\x00def", "line break or a control character"),
    ],
)
def test_a_transfer_without_a_usable_code_is_refused_and_writes_nothing(customer, domain_product, tld_com, code, says):
    with pytest.raises(ValidationError, match=says) as refused:
        order_place(client=customer, actor=None, items=[_transfer(domain_product, "mine.com", code)])
    assert refused.value.messages[0].startswith("Item 1: ")
    assert (Order.objects.count(), Domain.objects.count()) == (0, 0)


def test_a_tld_that_needs_no_code_takes_a_transfer_without_one(customer, domain_product, tld_com):
    Tld.objects.filter(pk=tld_com.pk).update(epp_code_required=False)
    domain = order_place(client=customer, actor=None, items=[_transfer(domain_product, "mine.com", "")]).domains.get()
    assert (domain.registration_type, domain.epp_code_token) == ("transfer", "")


def test_a_domain_priced_from_its_product_takes_the_code_when_given(customer, domain_product):
    """No TLD row, so no TLD settings: the code is optional, and checked when it is given."""
    without = order_place(client=customer, actor=None, items=[_transfer(domain_product, "one.org", "")])
    assert without.domains.get().epp_code_token == ""
    given = order_place(client=customer, actor=None, items=[_transfer(domain_product, "two.org", CODE)])
    assert crypto.decrypt(given.domains.get().epp_code_token) == CODE
    with pytest.raises(ValidationError, match="control character"):
        order_place(client=customer, actor=None, items=[_transfer(domain_product, "three.org", "a\tb")])


def test_a_registration_keeps_no_code(customer, domain_product, tld_com):
    order = order_place(
        client=customer, actor=None, items=[_transfer(domain_product, "new.com", CODE, action="register")]
    )
    assert order.domains.get().epp_code_token == ""


# --- the storefront ---------------------------------------------------------------------------------------------


@pytest.fixture
def logged_in(client, customer):
    client.force_login(customer.user)
    return client


def _add(logged_in, product, **data):
    return logged_in.post(reverse("clientarea:store_product", args=[product.pk]), {"years": "1", **data})


def test_the_storefront_asks_for_the_code_and_the_cart_keeps_it_encrypted(logged_in, customer, domain_product, tld_com):
    page = logged_in.get(reverse("clientarea:store_product", args=[domain_product.pk])).content.decode()
    assert 'name="epp_code"' in page and "EPP code (for a transfer)" in page
    response = _add(logged_in, domain_product, domain="mine.com", domain_action="transfer", epp_code=CODE)
    assert response.status_code == 302
    entry = logged_in.session["cart"][0]
    assert CODE not in str(logged_in.session.items()) and crypto.decrypt(entry["epp_code_token"]) == CODE
    with TestCase.captureOnCommitCallbacks(execute=True):
        logged_in.post(reverse("clientarea:checkout"), {"accept_terms": "on"})
    domain = customer.domains.get()
    assert (domain.registration_type, crypto.decrypt(domain.epp_code_token)) == ("transfer", CODE)


def test_the_storefront_says_at_once_that_the_tlds_transfer_needs_the_code(logged_in, domain_product, tld_com):
    response = _add(logged_in, domain_product, domain="mine.com", domain_action="transfer", epp_code="")
    assert response.status_code == 200
    assert "Enter the EPP code of mine.com" in response.content.decode()
    assert logged_in.session.get("cart", []) == []


def test_a_code_typed_for_a_registration_is_dropped(logged_in, customer, domain_product, tld_com):
    _add(logged_in, domain_product, domain="fresh.com", domain_action="register", epp_code=CODE)
    assert crypto.decrypt(logged_in.session["cart"][0]["epp_code_token"]) == ""


def test_a_cart_whose_code_no_key_opens_is_emptied_plainly(logged_in, customer, domain_product, tld_com):
    _add(logged_in, domain_product, domain="mine.com", domain_action="transfer", epp_code=CODE)
    session = logged_in.session
    session["cart"] = [{**session["cart"][0], "epp_code_token": "not-a-token"}]
    session.save()
    response = logged_in.post(reverse("clientarea:checkout"), {"accept_terms": "on"})
    assert response.status_code == 302 and response.url == reverse("clientarea:store")
    assert Order.objects.count() == 0


# --- Add New Order ------------------------------------------------------------------------------------------------


def _desk(client_id, product, name, code):
    data = {"client": client_id, "place": "Place order", "promo_code": ""}
    data.update({"products-TOTAL_FORMS": 0, "products-INITIAL_FORMS": 0})
    data.update({"domains-TOTAL_FORMS": 1, "domains-INITIAL_FORMS": 0})
    data.update(
        {
            "domains-0-product": product.pk,
            "domains-0-name": name,
            "domains-0-action": "transfer",
            "domains-0-years": "1",
            "domains-0-epp_code": code,
        }
    )
    return data


def test_add_new_order_takes_the_code_of_a_transfer(admin_client, customer, domain_product, tld_com):
    page = admin_client.get(reverse("admin:orders_order_add"), {"client": customer.pk}).content.decode()
    assert 'name="domains-0-epp_code"' in page
    with TestCase.captureOnCommitCallbacks(execute=True):
        response = admin_client.post(
            reverse("admin:orders_order_add"), _desk(customer.pk, domain_product, "mine.com", CODE)
        )
    assert response.status_code == 302
    assert crypto.decrypt(customer.domains.get().epp_code_token) == CODE


def test_add_new_order_refuses_a_transfer_without_the_code_and_places_nothing(
    admin_client, customer, domain_product, tld_com
):
    response = admin_client.post(reverse("admin:orders_order_add"), _desk(customer.pk, domain_product, "mine.com", ""))
    assert response.status_code == 200 and "Enter the EPP code of mine.com" in response.content.decode()
    assert Order.objects.count() == 0
