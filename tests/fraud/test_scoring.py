"""The score, the threshold, the skip settings and the stored result."""

import json
from decimal import Decimal

import pytest

from fraud.engine import RULES, FraudConfig, FraudResult, RuleConfig, check
from tests.fraud.conftest import LONDON_IP, TOR_IP, make_facts


def test_score_equal_to_the_threshold_is_fraud(locator):
    # The country mismatch alone: 50 points against a threshold of 50.
    result = check(make_facts(ip_address=LONDON_IP, billing_latitude=None), FraudConfig(threshold=50), locator)
    assert (result.score, result.threshold, result.is_fraud) == (50, 50, True)


def test_score_one_below_the_threshold_is_not_fraud(locator):
    result = check(make_facts(ip_address=LONDON_IP, billing_latitude=None), FraudConfig(threshold=51), locator)
    assert (result.score, result.is_fraud) == (50, False)


def test_score_is_the_sum_of_the_fired_rules_points(locator):
    facts = make_facts(ip_address=TOR_IP, email="x@gmail.com")
    result = check(facts, FraudConfig(), locator)
    assert {rule.code: rule.points for rule in result.rules} == {"anonymous_network": 30, "free_email_domain": 5}
    assert result.score == 35 and not result.is_fraud


def test_score_is_capped_at_100(locator):
    facts = make_facts(
        ip_address=LONDON_IP,
        email="x@mailinator.com",
        earlier_fraud_orders_same_email=1,
        orders_from_ip_last_hour=9,
    )
    result = check(facts, FraudConfig(), locator)
    assert sum(rule.points for rule in result.rules) == 190
    assert result.score == 100 and result.is_fraud


def test_points_come_from_the_config(locator):
    config = FraudConfig().with_rule("ip_country_mismatch", points=7)
    result = check(make_facts(ip_address=LONDON_IP, billing_latitude=None), config, locator)
    assert [(rule.code, rule.points) for rule in result.rules] == [("ip_country_mismatch", 7)]
    assert result.score == 7


def test_rule_with_zero_points_still_explains_itself(locator):
    config = FraudConfig().with_rule("free_email_domain", points=0)
    result = check(make_facts(email="x@gmail.com"), config, locator)
    assert [rule.code for rule in result.rules] == ["free_email_domain"] and result.score == 0


def test_rule_with_a_threshold_refuses_a_config_without_one(locator):
    config = FraudConfig(rules={"ip_order_velocity": RuleConfig(enabled=True, points=10, threshold=None)})
    with pytest.raises(ValueError, match="ip_order_velocity needs a threshold"):
        check(make_facts(), config, locator)


# --- Skipping the check ------------------------------------------------------------------------------------------


def test_clients_with_an_active_service_are_skipped_when_the_setting_is_on(locator):
    facts = make_facts(ip_address=LONDON_IP, email="x@mailinator.com", client_has_active_service=True)
    result = check(facts, FraudConfig(skip_for_clients_with_active_service=True), locator)
    assert result.skipped_reason == "The check was skipped: the client has an active service."
    assert (result.score, result.rules, result.is_fraud) == (0, (), False)
    assert check(facts, FraudConfig(), locator).is_fraud


def test_orders_paid_by_credit_are_skipped_when_the_setting_is_on(locator):
    facts = make_facts(ip_address=LONDON_IP, paid_by_credit=True)
    result = check(facts, FraudConfig(skip_for_orders_paid_by_credit=True), locator)
    assert result.skipped_reason == "The check was skipped: the order is paid from the client's credit balance."
    assert not result.is_fraud
    assert not check(
        make_facts(ip_address=LONDON_IP), FraudConfig(skip_for_orders_paid_by_credit=True), locator
    ).skipped_reason


# --- The stored result ----------------------------------------------------------------------------------------------


def test_result_is_stored_as_json_and_read_back(locator):
    facts = make_facts(ip_address=LONDON_IP, email="x@gmail.com")
    result = check(facts, FraudConfig(), locator)
    stored = json.loads(json.dumps(result.to_json()))
    assert stored["score"] == 75 and stored["threshold"] == 50 and stored["is_fraud"] is True
    assert stored["rules"][0] == {
        "code": "ip_country_mismatch",
        "points": 50,
        "sentence": "The IP address is in United Kingdom (GB) but the billing country is Germany (DE).",
    }
    assert stored["ip"]["address"] == LONDON_IP and stored["geoip"]["city"] == "London"
    assert FraudResult.from_json(stored) == result


def test_order_facts_refuse_float_money():
    with pytest.raises(TypeError, match="order_total must be a Decimal"):
        make_facts(order_total=9.99)


def test_order_facts_refuse_negative_counts():
    with pytest.raises(ValueError, match="earlier_orders cannot be negative"):
        make_facts(earlier_orders=-1)


def test_order_facts_are_json_serialisable():
    stored = json.loads(json.dumps(make_facts(product_ids=[1, 2]).to_json()))
    assert stored["order_total"] == "9.99" and stored["product_ids"] == [1, 2]


def test_every_rule_has_a_title_and_a_threshold_unit_where_it_has_a_threshold():
    for rule in RULES.values():
        assert rule.title
        assert bool(rule.threshold_unit) is (rule.default_threshold is not None), rule.code
        assert isinstance(rule.default_threshold, Decimal | None)
