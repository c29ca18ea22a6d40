"""The automation settings now belong to the automation app (its 0001 took the renamed table over): the model
leaves this app's state. Nothing in the database changes."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("billing", "0008_automation_settings_table_to_automation"),
        ("automation", "0001_initial"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[migrations.DeleteModel(name="AutomationSettings")],
            database_operations=[],
        ),
    ]
