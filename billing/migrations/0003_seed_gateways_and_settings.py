from django.db import migrations

GATEWAYS = [
    # code, display name, enabled, sort order
    ("banktransfer", "Bank transfer", True, 10),
    ("credit", "Account credit", True, 20),
    ("stripe", "Card (Stripe)", False, 30),
    ("sandbox", "Test card (sandbox)", True, 40),
]


def seed(apps, schema_editor):
    GatewayConfig = apps.get_model("billing", "GatewayConfig")
    for code, name, enabled, sort_order in GATEWAYS:
        GatewayConfig.objects.get_or_create(
            code=code, defaults={"display_name": name, "enabled": enabled, "sort_order": sort_order}
        )
    apps.get_model("billing", "BillingSettings").objects.get_or_create(pk=1)


class Migration(migrations.Migration):
    dependencies = [("billing", "0002_payments_taxes_numbering")]

    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
