"""Account credit is the ledger's (billing.services.ledger), not a gateway: the configuration row seeded for it in
0003 configures nothing any more. Its transactions keep the gateway code "credit"; they never pointed at the row."""

from django.db import migrations


def remove(apps, schema_editor):
    apps.get_model("billing", "GatewayConfig").objects.filter(code="credit").delete()


def restore(apps, schema_editor):
    apps.get_model("billing", "GatewayConfig").objects.get_or_create(
        code="credit", defaults={"display_name": "Account credit", "enabled": True, "sort_order": 20}
    )


class Migration(migrations.Migration):
    dependencies = [("billing", "0009_automation_settings_model_to_automation")]

    operations = [migrations.RunPython(remove, restore)]
