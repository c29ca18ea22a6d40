from django.db import migrations

# The rule as it shipped (issue 14); fraud.engine.RULES holds the current default, and
# tests/fraud/test_settings_and_rules.py fails when the two drift apart without a migration.
CODE, ENABLED, POINTS = "mixed_script_domain", True, 30


def seed(apps, schema_editor):
    FraudRule = apps.get_model("fraud", "FraudRule")
    if not FraudRule.objects.filter(code=CODE).exists():
        FraudRule.objects.create(code=CODE, enabled=ENABLED, points=POINTS, threshold=None)


def unseed(apps, schema_editor):
    apps.get_model("fraud", "FraudRule").objects.filter(code=CODE).delete()


class Migration(migrations.Migration):
    dependencies = [("fraud", "0002_seed_settings_and_rules")]

    operations = [migrations.RunPython(seed, unseed)]
