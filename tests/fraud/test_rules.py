"""Each rule fires on what it looks for and stays silent on its edge cases, through the engine and a GeoIP
database built by the command."""

from decimal import Decimal

import pytest

from fraud.engine import FraudConfig, MixedScriptDomain, check, distance_km
from tests.fraud.conftest import (
    AMSTERDAM_IPV6,
    BERLIN_IP,
    HETZNER_IPV6,
    LAGOS_IP,
    LONDON_IP,
    TOR_IP,
    UNKNOWN_IP,
    make_facts,
)


def fired(result) -> dict[str, str]:
    return {rule.code: rule.sentence for rule in result.rules}


def test_order_from_a_returning_client_at_home_fires_no_rule(config, locator):
    result = check(make_facts(), config, locator)
    assert result.rules == ()
    assert result.score == 0 and not result.is_fraud
    assert result.geoip.available and result.geoip.city == "Berlin"


# --- IP country differs from billing country -----------------------------------------------------------------


def test_ip_country_differs_from_billing_country_fires(config, locator):
    result = check(make_facts(ip_address=LONDON_IP), config, locator)
    assert fired(result)["ip_country_mismatch"] == (
        "The IP address is in United Kingdom (GB) but the billing country is Germany (DE)."
    )
    assert result.rules[0].points == 50


def test_ip_country_differs_from_billing_country_over_ipv6_fires(config, locator):
    result = check(make_facts(ip_address=AMSTERDAM_IPV6), config, locator)
    assert fired(result)["ip_country_mismatch"] == (
        "The IP address is in Netherlands (NL) but the billing country is Germany (DE)."
    )


@pytest.mark.parametrize("billing_country", ["DE", "de", " DE "])
def test_ip_country_same_as_billing_country_stays_silent(config, locator, billing_country):
    assert "ip_country_mismatch" not in fired(check(make_facts(billing_country=billing_country), config, locator))


def test_ip_country_rule_stays_silent_when_geoip_has_no_record(config, locator):
    result = check(make_facts(ip_address=UNKNOWN_IP), config, locator)
    assert "ip_country_mismatch" not in fired(result)
    assert result.geoip.unavailable_reason == "No GeoIP record for 8.8.8.8."


def test_ip_country_rule_stays_silent_when_disabled(config, locator):
    config = config.with_rule("ip_country_mismatch", enabled=False)
    assert "ip_country_mismatch" not in fired(check(make_facts(ip_address=LONDON_IP), config, locator))


# --- High-risk countries -------------------------------------------------------------------------------------


def test_billing_country_on_the_high_risk_list_fires_without_geoip(config, locator):
    config = FraudConfig(high_risk_countries=frozenset({"NG"}))
    result = check(make_facts(billing_country="NG", ip_address=None), config, locator)
    assert fired(result) == {"high_risk_country": "The billing country Nigeria (NG) is on the high-risk list."}


def test_ip_country_on_the_high_risk_list_fires(locator, config):
    config = FraudConfig(high_risk_countries=frozenset({"NG"}))
    result = check(make_facts(ip_address=LAGOS_IP), config, locator)
    assert fired(result)["high_risk_country"] == "The IP address is in Nigeria (NG), which is on the high-risk list."


def test_ip_and_billing_country_on_the_high_risk_list_fire_once(config, locator):
    config = FraudConfig(high_risk_countries=frozenset({"NG"}))
    facts = make_facts(
        ip_address=LAGOS_IP, billing_country="NG", billing_city="Lagos", billing_latitude=6.45, billing_longitude=3.39
    )
    result = check(facts, config, locator)
    assert fired(result) == {
        "high_risk_country": "The billing country and the IP address are both in Nigeria (NG), "
        "which is on the high-risk list."
    }
    assert result.score == 50


def test_high_risk_country_stays_silent_for_countries_not_on_the_list(config, locator):
    config = FraudConfig(high_risk_countries=frozenset({"NG", "KP"}))
    assert "high_risk_country" not in fired(check(make_facts(ip_address=LONDON_IP), config, locator))


def test_high_risk_country_list_is_empty_by_default(config, locator):
    assert "high_risk_country" not in fired(
        check(make_facts(ip_address=LAGOS_IP, billing_country="NG"), config, locator)
    )


# --- Anonymous and hosting networks --------------------------------------------------------------------------


def test_anonymous_network_ip_fires(config, locator):
    result = check(make_facts(ip_address=TOR_IP), config, locator)
    assert fired(result) == {
        "anonymous_network": "The IP address belongs to an anonymous VPN (AS60729 Stiftung Erneuerbare Freiheit)."
    }


def test_hosting_network_ip_fires_the_hosting_rule_only(config, locator):
    result = check(make_facts(ip_address=HETZNER_IPV6), config, locator)
    assert fired(result) == {
        "hosting_network": "The IP address belongs to a hosting provider's network (AS24940 Hetzner Online GmbH)."
    }
    assert result.score == 10


def test_residential_network_ip_fires_neither_network_rule(config, locator):
    result = check(make_facts(ip_address=LONDON_IP), config, locator)
    assert not {"anonymous_network", "hosting_network"} & set(fired(result))


# --- Distance between IP city and billing city ----------------------------------------------------------------


def test_distance_is_the_great_circle_distance():
    # London to Berlin is about 930 km.
    assert 925 < distance_km(51.5074, -0.1278, 52.52, 13.405) < 940


def test_ip_far_from_billing_city_fires(config, locator):
    # Billing in Berlin, IP in Hamburg (the /25 inside the Berlin /24): about 255 km apart.
    result = check(
        make_facts(ip_address="91.198.174.200"),
        config.with_rule("ip_far_from_billing_city", threshold=Decimal(200)),
        locator,
    )
    assert fired(result) == {
        "ip_far_from_billing_city": "The IP address is located 255 km from the billing city "
        "(Hamburg, DE → Berlin, DE); the limit is 200 km."
    }


def test_ip_exactly_n_km_from_billing_city_stays_silent(config, locator):
    km = round(distance_km(53.5511, 9.9937, 52.52, 13.405))
    at_limit = config.with_rule("ip_far_from_billing_city", threshold=Decimal(km))
    assert "ip_far_from_billing_city" not in fired(check(make_facts(ip_address="91.198.174.200"), at_limit, locator))
    one_below = config.with_rule("ip_far_from_billing_city", threshold=Decimal(km - 1))
    assert "ip_far_from_billing_city" in fired(check(make_facts(ip_address="91.198.174.200"), one_below, locator))


def test_ip_far_from_billing_city_stays_silent_without_billing_coordinates(config, locator):
    facts = make_facts(ip_address=LAGOS_IP, billing_latitude=None, billing_longitude=None)
    result = check(facts, config, locator)
    assert "ip_far_from_billing_city" not in fired(result)
    assert result.warnings == ()


def test_ip_far_from_billing_city_stays_silent_when_the_ip_has_no_location(config, locator):
    # The Tor network's row has a country but no coordinates.
    assert "ip_far_from_billing_city" not in fired(check(make_facts(ip_address=TOR_IP), config, locator))


# --- Email domains ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("email", ["someone@gmail.com", "Someone@GMail.COM", "x@mail.gmail.com", "x@gmail.com."])
def test_free_email_domain_fires(config, locator, email):
    result = check(make_facts(email=email), config, locator)
    assert fired(result) == {"free_email_domain": "The email address is at the free email provider gmail.com."}
    assert result.score == 5


@pytest.mark.parametrize("email", ["x@notgmail.com", "x@gmail.com.example.org", "gmail.com", "", "x@example.de"])
def test_free_email_domain_stays_silent_for_other_domains(config, locator, email):
    assert "free_email_domain" not in fired(check(make_facts(email=email), config, locator))


def test_disposable_email_domain_fires(config, locator):
    result = check(make_facts(email="burner@mailinator.com"), config, locator)
    assert fired(result) == {
        "disposable_email_domain": "The email address is at the disposable email service mailinator.com."
    }


def test_email_domain_lists_come_from_the_config(config, locator):
    config = FraudConfig(free_email_domains=frozenset(), disposable_email_domains=frozenset({"example.de"}))
    assert set(fired(check(make_facts(email="a@gmail.com"), config, locator))) == set()
    assert set(fired(check(make_facts(email="a@example.de"), config, locator))) == {"disposable_email_domain"}


# --- Earlier Fraud orders --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("counts", "sentence"),
    [
        (
            {"earlier_fraud_orders_same_ip": 2},
            "Earlier orders marked as Fraud came from the same IP address (2 orders).",
        ),
        (
            {"earlier_fraud_orders_same_email": 1},
            "Earlier orders marked as Fraud came from the same email address (1 order).",
        ),
        (
            {"earlier_fraud_orders_same_client": 1},
            "Earlier orders marked as Fraud came from the same client account (1 order).",
        ),
        (
            {
                "earlier_fraud_orders_same_ip": 1,
                "earlier_fraud_orders_same_email": 3,
                "earlier_fraud_orders_same_client": 1,
            },
            "Earlier orders marked as Fraud came from the same IP address (1 order), email address (3 orders) "
            "and client account (1 order).",
        ),
    ],
)
def test_email_or_ip_used_by_an_earlier_fraud_order_fires(config, locator, counts, sentence):
    result = check(make_facts(**counts), config, locator)
    assert fired(result) == {"earlier_fraud_order": sentence}
    assert result.score == 50 and result.is_fraud


def test_earlier_fraud_order_stays_silent_without_earlier_fraud_orders(config, locator):
    assert "earlier_fraud_order" not in fired(check(make_facts(earlier_orders=10), config, locator))


# --- Orders from one IP within an hour -------------------------------------------------------------------------


def test_more_than_n_orders_from_one_ip_in_an_hour_fires(config, locator):
    result = check(make_facts(orders_from_ip_last_hour=3), config, locator)
    assert fired(result) == {
        "ip_order_velocity": "4 orders came from 91.198.174.10 within an hour, this one included; the limit is 3."
    }


def test_exactly_n_orders_from_one_ip_in_an_hour_stays_silent(config, locator):
    assert "ip_order_velocity" not in fired(check(make_facts(orders_from_ip_last_hour=2), config, locator))


def test_orders_per_hour_limit_comes_from_the_config(config, locator):
    config = config.with_rule("ip_order_velocity", threshold=Decimal(10))
    assert "ip_order_velocity" not in fired(check(make_facts(orders_from_ip_last_hour=9), config, locator))
    assert "ip_order_velocity" in fired(check(make_facts(orders_from_ip_last_hour=10), config, locator))


# --- Large order from a new client -----------------------------------------------------------------------------


def test_order_total_above_the_limit_for_a_new_client_fires(config, locator):
    result = check(make_facts(earlier_orders=0, order_total=Decimal("500.01")), config, locator)
    assert fired(result) == {
        "new_client_large_order": "The client is new (no earlier orders) and the order total of 500.01 EUR is above "
        "the limit of 500.00 for new clients."
    }


def test_order_total_exactly_at_the_limit_for_a_new_client_stays_silent(config, locator):
    assert "new_client_large_order" not in fired(
        check(make_facts(earlier_orders=0, order_total=Decimal("500.00")), config, locator)
    )


def test_order_total_is_compared_in_the_default_currency(config, locator):
    # 0.9 EUR for one unit of the default currency: 450.00 EUR is 500.00, 450.01 EUR is 500.01.
    at_limit = make_facts(earlier_orders=0, order_total=Decimal("450.00"), exchange_rate=Decimal("0.9"))
    assert "new_client_large_order" not in fired(check(at_limit, config, locator))
    above = make_facts(earlier_orders=0, order_total=Decimal("450.01"), exchange_rate=Decimal("0.9"))
    assert fired(check(above, config, locator))["new_client_large_order"] == (
        "The client is new (no earlier orders) and the order total of 450.01 EUR (500.01 in the default currency) "
        "is above the limit of 500.00 for new clients."
    )


@pytest.mark.parametrize(
    ("earlier_orders", "client_age_days", "is_new"),
    [(0, 1000, True), (3, 29, True), (3, 30, False), (1, 365, False)],
)
def test_a_client_is_new_without_earlier_orders_or_younger_than_30_days(
    config, locator, earlier_orders, client_age_days, is_new
):
    facts = make_facts(earlier_orders=earlier_orders, client_age_days=client_age_days, order_total=Decimal("900.00"))
    assert ("new_client_large_order" in fired(check(facts, config, locator))) is is_new


def test_large_order_from_a_young_account_says_how_old_it_is(config, locator):
    facts = make_facts(earlier_orders=2, client_age_days=1, order_total=Decimal("900.00"))
    assert fired(check(facts, config, locator))["new_client_large_order"].startswith(
        "The client is new (account 1 day old)"
    )


# --- Many services from a new client who never paid -------------------------------------------------------------


def test_new_client_without_paid_invoice_ordering_more_than_n_services_fires(config, locator):
    facts = make_facts(earlier_orders=0, has_paid_invoice=False, services_ordered=4)
    assert fired(check(facts, config, locator)) == {
        "new_client_many_services": "The client is new (no earlier orders), has never paid an invoice and orders "
        "4 services; the limit is 3."
    }


@pytest.mark.parametrize(
    "changes",
    [
        {"services_ordered": 3},  # exactly N
        {"services_ordered": 4, "has_paid_invoice": True},
        {"services_ordered": 4, "earlier_orders": 5, "client_age_days": 90},  # not new
    ],
)
def test_new_client_many_services_stays_silent(config, locator, changes):
    facts = make_facts(**{"earlier_orders": 0, "has_paid_invoice": False, **changes})
    assert "new_client_many_services" not in fired(check(facts, config, locator))


# --- Domain name mixing scripts ---------------------------------------------------------------------------------

APPLE = MixedScriptDomain(
    name="\u0430pple.com", ascii_name="xn--pple-43d.com", label="\u0430pple", scripts=("Cyrillic", "Latin")
)
PAYPAL = MixedScriptDomain(
    name="p\u0430yp\u0430l.net", ascii_name="xn--pypl-53dc.net", label="p\u0430yp\u0430l", scripts=("Cyrillic", "Latin")
)


def test_a_domain_name_mixing_scripts_fires(config, locator):
    result = check(make_facts(mixed_script_domains=(APPLE,)), config, locator)
    assert fired(result) == {
        "mixed_script_domain": "The domain name \u0430pple.com (xn--pple-43d.com) mixes Cyrillic and Latin letters in "
        "'\u0430pple': one label in several scripts can imitate another name (a look-alike)."
    }
    assert result.score == 30 and not result.is_fraud  # alone it only adds up; an admin still reviews the order


def test_several_domain_names_mixing_scripts_fire_once(config, locator):
    result = check(make_facts(mixed_script_domains=(APPLE, PAYPAL)), config, locator)
    assert [rule.points for rule in result.rules] == [30]
    assert fired(result)["mixed_script_domain"].startswith(
        "The domain names \u0430pple.com (xn--pple-43d.com) mixes Cyrillic and Latin letters in '\u0430pple'; "
        "p\u0430yp\u0430l.net (xn--pypl-53dc.net) mixes"
    )


def test_mixed_script_rule_stays_silent_without_such_names_or_when_disabled(config, locator):
    assert fired(check(make_facts(), config, locator)) == {}
    config = config.with_rule("mixed_script_domain", enabled=False)
    assert fired(check(make_facts(mixed_script_domains=(APPLE,)), config, locator)) == {}


def test_mixed_script_domains_are_plain_facts_in_the_stored_json():
    facts = make_facts(mixed_script_domains=[APPLE])
    assert facts.mixed_script_domains == (APPLE,)
    assert facts.to_json()["mixed_script_domains"] == [
        {
            "name": "\u0430pple.com",
            "ascii_name": "xn--pple-43d.com",
            "label": "\u0430pple",
            "scripts": ["Cyrillic", "Latin"],
        }
    ]


# --- Malformed IP address --------------------------------------------------------------------------------------


def test_malformed_ip_rule_is_off_by_default(config, locator):
    result = check(make_facts(ip_address="999.1.1.1"), config, locator)
    assert result.rules == () and not result.ip.is_valid


def test_malformed_ip_fires_when_enabled(config, locator):
    config = config.with_rule("malformed_ip", enabled=True)
    result = check(make_facts(ip_address="999.1.1.1"), config, locator)
    assert fired(result) == {
        "malformed_ip": "The IP address sent with the order is malformed: "
        "'999.1.1.1' is not a valid IPv4 or IPv6 address."
    }


@pytest.mark.parametrize("ip_address", [BERLIN_IP, None])
def test_malformed_ip_stays_silent_for_a_valid_or_absent_ip(config, locator, ip_address):
    config = config.with_rule("malformed_ip", enabled=True)
    assert "malformed_ip" not in fired(check(make_facts(ip_address=ip_address), config, locator))
