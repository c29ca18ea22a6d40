"""The automation run's log now belongs to the automation app (its 0001 took the renamed tables over): the models
leave this app's state. Nothing in the database changes."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("notifications", "0005_automation_run_tables_to_automation"),
        ("automation", "0001_initial"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.RemoveField(model_name="automationsteprun", name="run"),
                migrations.DeleteModel(name="AutomationRun"),
                migrations.DeleteModel(name="AutomationStepRun"),
            ],
            database_operations=[],
        ),
    ]
