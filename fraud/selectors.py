"""Reads: the admin's fraud settings and rules, as the plain FraudConfig the engine takes."""

from fraud.engine import RULES, FraudConfig, RuleConfig
from fraud.models import SETTINGS_ROW_ID, FraudRule, FraudSettings, split_list


def fraud_settings_get() -> FraudSettings:
    """The settings row; an unsaved row with the defaults if someone deleted it (the check still runs)."""
    try:
        return FraudSettings.objects.get(pk=SETTINGS_ROW_ID)
    except FraudSettings.DoesNotExist:
        return FraudSettings(pk=SETTINGS_ROW_ID)


def fraud_config_get() -> FraudConfig:
    """Two queries: the settings row and all rule rows. Rules without a row keep their defaults from the code;
    rows for rules no longer in the code are ignored.

    The queries are kept plain (no IN list, no ordering, no model instances): they run on every checkout, and
    building the SQL costs more than running it.
    """
    fraud_settings = fraud_settings_get()
    rules = {
        code: RuleConfig(enabled=enabled, points=points, threshold=threshold)
        for code, enabled, points, threshold in FraudRule.objects.order_by().values_list(
            "code", "enabled", "points", "threshold"
        )
        if code in RULES
    }
    return FraudConfig(
        threshold=fraud_settings.threshold,
        rules=rules,
        new_client_max_age_days=fraud_settings.new_client_max_age_days,
        free_email_domains=frozenset(split_list(fraud_settings.free_email_domains.lower())),
        disposable_email_domains=frozenset(split_list(fraud_settings.disposable_email_domains.lower())),
        high_risk_countries=frozenset(split_list(fraud_settings.high_risk_countries.upper())),
        skip_for_clients_with_active_service=fraud_settings.skip_for_clients_with_active_service,
        skip_for_orders_paid_by_credit=fraud_settings.skip_for_orders_paid_by_credit,
        check_admin_orders=fraud_settings.fraud_check_admin_orders,
    )
