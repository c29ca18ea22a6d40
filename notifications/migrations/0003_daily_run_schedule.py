"""Celery beat's daily automation run at 03:00 (server time zone). The automation settings move it when their
time of day changes (notifications.scheduler.daily_run_schedule)."""

from django.conf import settings
from django.db import migrations

TASK_NAME = "Automation: the daily run"


def create(apps, schema_editor):
    crontab_model = apps.get_model("django_celery_beat", "CrontabSchedule")
    task_model = apps.get_model("django_celery_beat", "PeriodicTask")
    crontab, _ = crontab_model.objects.get_or_create(
        minute="0", hour="3", day_of_week="*", day_of_month="*", month_of_year="*", timezone=settings.TIME_ZONE
    )
    task_model.objects.get_or_create(
        name=TASK_NAME,
        defaults={"task": "notifications.automation_run", "crontab": crontab, "queue": "automation"},
    )


def remove(apps, schema_editor):
    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(name=TASK_NAME).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("notifications", "0002_automation_run"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(create, remove)]
