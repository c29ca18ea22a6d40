"""The automation run's log moves to the automation app, with its rows: first its tables are renamed to the names
the automation app gives them (automation_automationrun, automation_automationsteprun); automation's 0001 then
takes the models over without touching the database, and 0006 drops them from this app's state."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("notifications", "0004_event_and_email_without_like_indexes"),
    ]

    operations = [
        migrations.AlterModelTable(name="automationrun", table="automation_automationrun"),
        migrations.AlterModelTable(name="automationsteprun", table="automation_automationsteprun"),
    ]
