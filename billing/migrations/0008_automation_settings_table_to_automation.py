"""The automation settings move to the automation app, with their row: first the table is renamed to the name the
automation app gives it; automation's 0001 then takes the model over without touching the database, and 0009
drops it from this app's state."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("billing", "0007_reminder_and_late_fee_share_their_keys_index"),
    ]

    operations = [
        migrations.AlterModelTable(name="automationsettings", table="automation_automationsettings"),
    ]
