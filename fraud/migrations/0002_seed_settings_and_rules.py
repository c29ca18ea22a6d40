from decimal import Decimal

from django.db import migrations

# The defaults as they were when the rules shipped; fraud.engine.RULES holds the current ones, and
# tests/fraud/test_settings_and_rules.py fails when the two drift apart without a migration.
RULES = [
    # code, enabled, points, threshold
    ("ip_country_mismatch", True, 50, None),
    ("high_risk_country", True, 50, None),
    ("anonymous_network", True, 30, None),
    ("hosting_network", True, 10, None),
    ("ip_far_from_billing_city", True, 20, Decimal("500")),
    ("free_email_domain", True, 5, None),
    ("disposable_email_domain", True, 40, None),
    ("earlier_fraud_order", True, 50, None),
    ("ip_order_velocity", True, 30, Decimal("3")),
    ("new_client_large_order", True, 20, Decimal("500.00")),
    ("new_client_many_services", True, 20, Decimal("3")),
    ("malformed_ip", False, 10, None),
]


def seed(apps, schema_editor):
    FraudSettings = apps.get_model("fraud", "FraudSettings")
    FraudRule = apps.get_model("fraud", "FraudRule")
    if not FraudSettings.objects.filter(pk=1).exists():
        FraudSettings.objects.create(pk=1)  # the field defaults fill the lists
    existing = set(FraudRule.objects.values_list("code", flat=True))
    FraudRule.objects.bulk_create(
        FraudRule(code=code, enabled=enabled, points=points, threshold=threshold)
        for code, enabled, points, threshold in RULES
        if code not in existing
    )


def unseed(apps, schema_editor):
    apps.get_model("fraud", "FraudRule").objects.filter(code__in=[row[0] for row in RULES]).delete()
    apps.get_model("fraud", "FraudSettings").objects.filter(pk=1).delete()


class Migration(migrations.Migration):
    dependencies = [("fraud", "0001_initial")]

    operations = [migrations.RunPython(seed, unseed)]
