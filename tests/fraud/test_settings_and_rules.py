"""The admin's settings and rules: seeded by the migrations, loaded in two queries, edited in the admin."""

from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from fraud.engine import RULES
from fraud.models import FraudRule, FraudSettings
from fraud.selectors import fraud_config_get
from fraud.services import fraud_check
from tests.fraud.conftest import LONDON_IP, make_facts

pytestmark = pytest.mark.django_db


def test_migrations_seed_one_row_per_rule_with_the_engines_defaults():
    seeded = {rule.code: (rule.enabled, rule.points, rule.threshold) for rule in FraudRule.objects.all()}
    assert seeded == {
        code: (definition.default_enabled, definition.default_points, definition.default_threshold)
        for code, definition in RULES.items()
    }


def test_migrations_seed_the_settings_row_with_the_default_lists():
    config = fraud_config_get()
    assert config.threshold == 50 and config.new_client_max_age_days == 30
    assert {"gmail.com", "outlook.com"} <= config.free_email_domains
    assert {"mailinator.com", "yopmail.com"} <= config.disposable_email_domains
    assert config.high_risk_countries == frozenset()


def test_config_is_loaded_in_two_queries(django_assert_num_queries):
    with django_assert_num_queries(2):
        fraud_config_get()


def test_fraud_check_uses_the_admins_settings_and_the_geoip_database_from_settings(settings, geo_db):
    settings.FRAUD_GEOIP_CITY_DB = str(geo_db)
    FraudSettings.objects.filter(pk=1).update(threshold=80, high_risk_countries="gb\nNG")
    FraudRule.objects.filter(code="ip_country_mismatch").update(points=35)
    result = fraud_check(facts=make_facts(ip_address=LONDON_IP, billing_latitude=None))
    assert {rule.code: rule.points for rule in result.rules} == {"ip_country_mismatch": 35, "high_risk_country": 50}
    assert (result.score, result.threshold, result.is_fraud) == (85, 80, True)
    assert result.warnings == ()


def test_fraud_check_runs_in_two_queries(settings, geo_db, django_assert_num_queries):
    settings.FRAUD_GEOIP_CITY_DB = str(geo_db)
    with django_assert_num_queries(2):
        fraud_check(facts=make_facts(ip_address=LONDON_IP))


def test_disabled_rule_in_the_admin_does_not_fire(settings, geo_db):
    settings.FRAUD_GEOIP_CITY_DB = str(geo_db)
    FraudRule.objects.filter(code="ip_country_mismatch").update(enabled=False)
    result = fraud_check(facts=make_facts(ip_address=LONDON_IP, billing_latitude=None))
    assert result.rules == ()


def test_rule_without_a_row_keeps_its_default(settings, geo_db):
    settings.FRAUD_GEOIP_CITY_DB = str(geo_db)
    FraudRule.objects.filter(code="ip_country_mismatch").delete()
    result = fraud_check(facts=make_facts(ip_address=LONDON_IP, billing_latitude=None))
    assert [(rule.code, rule.points) for rule in result.rules] == [("ip_country_mismatch", 50)]


def test_missing_settings_row_falls_back_to_the_defaults():
    FraudSettings.objects.all().delete()
    assert fraud_config_get().threshold == 50


def test_missing_geoip_database_in_settings_is_a_warning_not_a_crash(settings, tmp_path):
    settings.FRAUD_GEOIP_CITY_DB = str(tmp_path / "GeoLite2-City.mmdb")
    result = fraud_check(facts=make_facts(ip_address=LONDON_IP))
    assert result.warnings == (
        f"GeoIP database missing: {tmp_path / 'GeoLite2-City.mmdb'} does not exist; GeoIP rules skipped.",
    )


# --- Validation -----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "threshold", "error"),
    [
        ("ip_order_velocity", None, "This rule needs a threshold (orders in one hour)."),
        ("ip_order_velocity", Decimal("2.5"), "Use a whole number (orders in one hour)."),
        ("ip_country_mismatch", Decimal("3"), "This rule has no threshold; leave it empty."),
    ],
)
def test_rule_threshold_is_validated(code, threshold, error):
    rule = FraudRule.objects.get(code=code)
    rule.threshold = threshold
    with pytest.raises(ValidationError) as raised:
        rule.full_clean()
    assert raised.value.message_dict["threshold"] == [error]


def test_money_threshold_accepts_cents():
    rule = FraudRule.objects.get(code="new_client_large_order")
    rule.threshold = Decimal("250.50")
    rule.full_clean()


def test_points_above_100_are_refused():
    rule = FraudRule.objects.get(code="hosting_network")
    rule.points = 101
    with pytest.raises(ValidationError) as raised:
        rule.full_clean()
    assert "points" in raised.value.message_dict


def test_settings_refuse_unknown_countries_and_bad_domains():
    row = FraudSettings.objects.get()
    row.high_risk_countries = "NG, XX"
    row.disposable_email_domains = "mailinator.com\nnot a domain"
    with pytest.raises(ValidationError) as raised:
        row.full_clean()
    assert raised.value.message_dict["high_risk_countries"] == ["Not an ISO 3166 country code: XX."]
    assert raised.value.message_dict["disposable_email_domains"] == ["Not a domain name: not, a, domain."]


# --- Admin ------------------------------------------------------------------------------------------------------------


def test_settings_list_in_the_admin_opens_the_one_row(admin_client):
    response = admin_client.get(reverse("admin:fraud_fraudsettings_changelist"))
    assert response.status_code == 302
    assert response["Location"] == reverse("admin:fraud_fraudsettings_change", args=[1])


def test_settings_page_warns_when_the_geoip_database_is_missing(admin_client, settings, tmp_path):
    settings.FRAUD_GEOIP_CITY_DB = str(tmp_path / "GeoLite2-City.mmdb")
    response = admin_client.get(reverse("admin:fraud_fraudsettings_change", args=[1]))
    assert response.status_code == 200
    warning = f"GeoIP database missing: {tmp_path / 'GeoLite2-City.mmdb'} does not exist; GeoIP rules skipped."
    assert [str(message) for message in response.context["messages"]] == [warning]


def test_settings_page_shows_a_usable_database_without_warning(admin_client, settings, geo_db):
    settings.FRAUD_GEOIP_CITY_DB = str(geo_db)
    response = admin_client.get(reverse("admin:fraud_fraudsettings_change", args=[1]))
    assert list(response.context["messages"]) == []
    assert f"City/Country: {geo_db}" in response.content.decode() and "C extension" in response.content.decode()


def test_rules_page_lists_every_rule_and_warns_without_geoip(admin_client, settings):
    settings.FRAUD_GEOIP_CITY_DB = ""
    response = admin_client.get(reverse("admin:fraud_fraudrule_changelist"))
    assert response.status_code == 200
    assert response.context["cl"].result_count == len(RULES)
    assert [str(message) for message in response.context["messages"]] == [
        "GeoIP database missing: FRAUD_GEOIP_CITY_DB is not set; GeoIP rules skipped."
    ]


def test_rule_edited_in_the_admin_changes_the_check(admin_client, settings, geo_db):
    settings.FRAUD_GEOIP_CITY_DB = str(geo_db)
    rule = FraudRule.objects.get(code="ip_order_velocity")
    response = admin_client.post(
        reverse("admin:fraud_fraudrule_change", args=[rule.pk]), {"enabled": "on", "points": "45", "threshold": "1"}
    )
    assert response.status_code == 302
    result = fraud_check(facts=make_facts(orders_from_ip_last_hour=1))
    assert [(fired.code, fired.points) for fired in result.rules] == [("ip_order_velocity", 45)]


def test_admin_refuses_a_fractional_order_count(admin_client):
    rule = FraudRule.objects.get(code="ip_order_velocity")
    response = admin_client.post(
        reverse("admin:fraud_fraudrule_change", args=[rule.pk]), {"enabled": "on", "points": "45", "threshold": "1.5"}
    )
    assert response.status_code == 200
    assert "Use a whole number (orders in one hour)." in response.content.decode()
    rule.refresh_from_db()
    assert rule.threshold == Decimal("3")


def test_rules_cannot_be_added_or_deleted_in_the_admin(admin_client):
    rule = FraudRule.objects.first()
    assert admin_client.get(reverse("admin:fraud_fraudrule_add")).status_code == 403
    assert admin_client.get(reverse("admin:fraud_fraudrule_delete", args=[rule.pk])).status_code == 403
