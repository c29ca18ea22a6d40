"""The storefront's domain page: the TLD price list in the client's currency, the years to choose, a taken name
said at once, and a cart of domains priced without a query per line."""

import pytest
from django.urls import reverse

from tests import registrar_package


@pytest.fixture
def logged_in(client, customer):
    client.force_login(customer.user)
    return client


def test_the_domain_page_lists_each_tlds_prices_and_offers_1_to_10_years(
    logged_in, domain_product, tld_com, tld_example
):
    page = logged_in.get(reverse("clientarea:store_product", args=[domain_product.pk]))
    html = page.content.decode()
    assert page.status_code == 200
    assert ".com" in html and ".example" in html and "$100.00" in html  # .com for 10 years
    assert [value for value, _label in page.context["form"].fields["years"].choices] == list(range(1, 11))


def test_a_taken_name_is_said_plainly_and_stays_out_of_the_cart(logged_in, domain_product, tld_example):
    response = logged_in.post(
        reverse("clientarea:store_product", args=[domain_product.pk]),
        {"domain": "taken.example", "domain_action": "register", "years": "2"},
    )
    assert response.status_code == 200
    assert "taken.example is taken" in response.content.decode()
    assert logged_in.session.get("cart", []) == []


def test_a_registry_that_does_not_answer_asks_the_client_to_try_again(logged_in, domain_product, tld_example):
    registrar_package.DOWN.add("shop.example")
    response = logged_in.post(
        reverse("clientarea:store_product", args=[domain_product.pk]),
        {"domain": "shop.example", "domain_action": "register", "years": "1"},
    )
    assert response.status_code == 200 and "please try again" in response.content.decode()


def test_a_free_name_goes_in_the_cart_for_its_years_and_checks_out_at_the_tld_price(
    logged_in, customer, domain_product, tld_example
):
    logged_in.post(
        reverse("clientarea:store_product", args=[domain_product.pk]),
        {"domain": "free.example", "domain_action": "register", "years": "4"},
    )
    cart = logged_in.get(reverse("clientarea:cart"))
    assert "4 years" in cart.content.decode() and "$20.00" in cart.content.decode()
    logged_in.post(reverse("clientarea:checkout"), {"accept_terms": "on"})
    domain = customer.domains.get()
    assert (domain.name, domain.registration_period, domain.first_payment_amount) == ("free.example", 4, 20)


@pytest.mark.parametrize("size", [2, 12])
def test_the_cart_prices_its_domains_without_a_query_per_line(
    logged_in, domain_product, tld_example, size, django_assert_max_num_queries
):
    session = logged_in.session
    session["cart"] = [
        {
            "product_id": domain_product.pk,
            "billing_cycle": "annually",
            "years": 1 + i % 10,
            "domain": f"d{i}.example",
            "domain_action": "register",
        }
        for i in range(size)
    ]
    session.save()
    with django_assert_max_num_queries(9):  # session, user, client, currency, products + pricing, TLDs + prices
        page = logged_in.get(reverse("clientarea:cart"))
    assert len(page.context["lines"]) == size
