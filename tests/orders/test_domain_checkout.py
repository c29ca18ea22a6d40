"""Checkout of domains priced per TLD (provisioning.Tld / TldPrice): the price in the client's currency for the
years asked, a refusal that writes nothing when the TLD has no such price, and the TLD registrar's answer on
availability (taken: refused; Manual: unknown, goes through; a registrar fault: refused, try again)."""

import datetime
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.test.utils import CaptureQueriesContext

from billing.models import Invoice, InvoiceItem
from notifications.models import Event
from orders.models import Order
from orders.services import CartItem, order_place
from provisioning.models import Domain, Service, Tld
from tests import registrar_package
from tests.factories import ClientFactory
from tests.factories import tld_price_table as price_table

TODAY = datetime.date(2026, 11, 21)


def _counts():
    return (
        Order.objects.count(),
        Service.objects.count(),
        Domain.objects.count(),
        Invoice.objects.count(),
        InvoiceItem.objects.count(),
        Event.objects.count(),
    )


def _domain(product, name, *, years=0, action="register", cycle="annually", epp_code=None) -> CartItem:
    """A domain line; a transfer carries an EPP code unless `epp_code` says otherwise ("" for none)."""
    code = ("Auth-" + name) if epp_code is None and action == "transfer" else (epp_code or "")
    return CartItem(
        product_id=product.pk, billing_cycle=cycle, domain=name, domain_action=action, years=years, epp_code=code
    )


@pytest.mark.parametrize("years", [1, 4, 10])
def test_a_domain_is_priced_from_its_tlds_table_for_the_years_asked(customer, domain_product, tld_com, place, years):
    order = place(customer, _domain(domain_product, "shop.com", years=years), today=TODAY)
    domain = order.domains.get()
    # .com: register 10 x years, renew 10 x years + 1 (tld_fixtures.price_table); the product's own 12.99 is unused.
    assert (domain.registration_period, domain.first_payment_amount, domain.recurring_amount) == (
        years,
        Decimal("10.00") * years,
        Decimal("10.00") * years + 1,
    )
    assert (domain.registrar, domain.availability_at_checkout) == ("manual", Domain.CheckoutAvailability.UNKNOWN)
    line = order.invoice.items.get()
    assert (line.kind, line.amount, line.period_end) == (
        InvoiceItem.Kind.DOMAIN,
        Decimal("10.00") * years,
        datetime.date(2026 + years, 11, 20),
    )
    assert line.description == f"Domain Register - shop.com - {years} year{'s' if years > 1 else ''}"
    assert order.invoice.total == Decimal("10.00") * years


def test_the_price_is_the_one_in_the_clients_currency(domain_product, tld_com, eur, place):
    price_table(tld_com, eur, base="9.00", years=[2])
    order = place(ClientFactory(currency=eur), _domain(domain_product, "euro-shop.com", years=2), today=TODAY)
    domain = order.domains.get()
    assert (order.currency.code, domain.first_payment_amount, domain.recurring_amount) == (
        "EUR",
        Decimal("18.00"),
        Decimal("19.00"),
    )


def test_a_transfer_is_priced_at_the_transfer_price_and_renews_at_the_renew_price(
    customer, domain_product, tld_com, place
):
    order = place(customer, _domain(domain_product, "mine.com", years=3, action="transfer"), today=TODAY)
    domain = order.domains.get()
    assert (domain.registration_type, domain.first_payment_amount, domain.recurring_amount) == (
        "transfer",
        Decimal("29.00"),
        Decimal("31.00"),
    )


def test_a_billing_cycle_still_means_its_years_for_a_tld_priced_domain(customer, domain_product, tld_com, place):
    order = place(customer, _domain(domain_product, "cycle.com", cycle="triennially"), today=TODAY)
    assert (order.domains.get().registration_period, order.invoice.total) == (3, Decimal("30.00"))


def test_a_tld_without_a_price_in_the_clients_currency_is_refused_and_nothing_is_written(domain_product, tld_com, eur):
    price_table(tld_com, eur, base="9.00", years=[1, 2, 3])  # EUR up to 3 years only
    client = ClientFactory(currency=eur)
    before = _counts()
    with pytest.raises(ValidationError, match=r"we do not sell \.com domains for 4 years in EUR"):
        order_place(client=client, actor=None, items=[_domain(domain_product, "shop.com", years=4)])
    assert _counts() == before


def test_more_than_ten_years_is_refused_and_nothing_is_written(customer, domain_product, tld_com):
    before = _counts()
    with pytest.raises(ValidationError, match="1 to 10 years"):
        order_place(client=customer, actor=None, items=[_domain(domain_product, "shop.com", years=11)])
    assert _counts() == before


def test_a_tld_without_a_transfer_price_refuses_a_transfer_and_nothing_is_written(customer, domain_product, usd):
    tld = Tld.objects.create(extension="net", registrar="manual")
    price_table(tld, usd, base="8.00", transfers=False)
    before = _counts()
    with pytest.raises(ValidationError, match=r"we do not transfer \.net domains in for 2 years in USD"):
        order_place(
            client=customer, actor=None, items=[_domain(domain_product, "mine.net", years=2, action="transfer")]
        )
    assert _counts() == before


def test_an_inactive_tld_is_not_sold(customer, domain_product, tld_com):
    tld_com.is_active = False
    tld_com.save()
    before = _counts()
    with pytest.raises(ValidationError) as refused:
        order_place(client=customer, actor=None, items=[_domain(domain_product, "shop.com", years=1)])
    assert refused.value.messages == ["Item 1: we do not sell .com domains."]
    assert _counts() == before


def test_the_longest_extension_with_a_row_prices_the_name(customer, domain_product, usd, place):
    uk, co_uk = (
        Tld.objects.create(extension="uk", registrar="manual"),
        Tld.objects.create(extension="co.uk", registrar="manual"),
    )
    price_table(uk, usd, base="7.00", years=[1])
    price_table(co_uk, usd, base="3.00", years=[1])
    order = place(customer, _domain(domain_product, "shop.co.uk", years=1), _domain(domain_product, "shop.uk", years=1))
    assert sorted(order.domains.values_list("name", "first_payment_amount")) == [
        ("shop.co.uk", Decimal("3.00")),
        ("shop.uk", Decimal("7.00")),
    ]


def test_a_name_without_a_tld_row_keeps_its_products_pricing(customer, domain_product, tld_com, place):
    order = place(customer, _domain(domain_product, "legacy.org", cycle="biennially"))
    domain = order.domains.get()
    assert (domain.first_payment_amount, domain.registrar, domain.availability_at_checkout) == (
        Decimal("25.98"),
        "",
        Domain.CheckoutAvailability.NOT_CHECKED,
    )


# --- availability ------------------------------------------------------------------------------------------------


def test_a_taken_name_is_refused_with_the_registrars_answer_and_nothing_is_written(
    customer, domain_product, tld_example
):
    before = _counts()
    with pytest.raises(ValidationError, match=r"taken\.example is taken"):
        order_place(client=customer, actor=None, items=[_domain(domain_product, "taken.example", years=1)])
    assert _counts() == before


def test_a_free_name_at_a_checking_registrar_is_marked_available(customer, domain_product, tld_example, place):
    order = place(customer, _domain(domain_product, "free.example", years=2))
    domain = order.domains.get()
    assert (domain.registrar, domain.availability_at_checkout, domain.first_payment_amount) == (
        "scripted_registrar",
        Domain.CheckoutAvailability.AVAILABLE,
        Decimal("10.00"),
    )


def test_a_taken_name_may_be_transferred_in_and_a_free_one_may_not(customer, domain_product, tld_example, place):
    order = place(customer, _domain(domain_product, "taken.example", years=1, action="transfer"))
    assert order.domains.get().availability_at_checkout == Domain.CheckoutAvailability.REGISTERED
    before = _counts()
    with pytest.raises(ValidationError, match=r"nobody\.example is not registered, so it cannot be transferred"):
        order_place(
            client=customer, actor=None, items=[_domain(domain_product, "nobody.example", years=1, action="transfer")]
        )
    assert _counts() == before


def test_a_manual_tld_goes_through_with_availability_unknown_for_the_admin(customer, domain_product, tld_com, place):
    order = place(customer, _domain(domain_product, "anything.com", years=1))
    assert order.domains.get().availability_at_checkout == Domain.CheckoutAvailability.UNKNOWN


def test_a_registrar_fault_during_the_check_refuses_the_checkout_with_try_again_and_writes_nothing(
    customer, domain_product, tld_example
):
    registrar_package.DOWN.add("shop.example")
    before = _counts()
    with pytest.raises(ValidationError, match=r"could not check shop\.example with the registry just now") as refused:
        order_place(client=customer, actor=None, items=[_domain(domain_product, "shop.example", years=1)])
    assert "try again" in refused.value.messages[0]
    assert _counts() == before


def test_a_registrar_that_does_not_answer_in_time_counts_as_a_fault(customer, domain_product, tld_example, settings):
    settings.PORTAL_DOMAIN_CHECK_TIMEOUT_SECONDS = 1
    registrar_package.SLOW["slow.example"] = 2.5
    before = _counts()
    started = datetime.datetime.now()
    with pytest.raises(ValidationError, match=r"could not check slow\.example"):
        order_place(client=customer, actor=None, items=[_domain(domain_product, "slow.example", years=1)])
    assert (datetime.datetime.now() - started).total_seconds() < 2.3
    assert _counts() == before


def test_checking_and_pricing_n_domains_asks_the_tld_tables_a_fixed_number_of_times(
    customer, domain_product, tld_example
):
    def tld_queries(n: int) -> int:
        items = [_domain(domain_product, f"n{n}-{i}.example", years=1 + i % 10) for i in range(n)]
        with CaptureQueriesContext(connection) as captured:
            order_place(client=customer, actor=None, items=items)
        return sum(
            1
            for query in captured.captured_queries
            if "provisioning_tld" in query["sql"] or "registrarconfig" in query["sql"]
        )

    assert tld_queries(2) == tld_queries(9) == 3  # the TLDs, their prices, the registrars' settings
