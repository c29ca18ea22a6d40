"""The beat schedule: the django-celery-beat periodic task that starts the daily run on the automation queue."""

from __future__ import annotations

import datetime

DAILY_TASK_NAME = "Automation: the daily run"
# The task's name until the run had an app of its own: still registered (automation.tasks), so a message queued
# under it before the upgrade runs; the migration points the periodic task at DAILY_TASK.
DAILY_TASK_BEFORE_THE_MOVE = "notifications.automation_run"
DAILY_TASK = "automation.run"
AUTOMATION_QUEUE = "automation"


def daily_run_schedule(*, at: datetime.time) -> None:
    """Point Celery beat's daily run at `at` (server time zone), creating the periodic task if it is missing.
    Called when the automation settings' time of day changes; the migration creates it for 03:00."""
    from django.conf import settings
    from django_celery_beat.models import CrontabSchedule, PeriodicTask

    crontab, _ = CrontabSchedule.objects.get_or_create(
        minute=str(at.minute),
        hour=str(at.hour),
        day_of_week="*",
        day_of_month="*",
        month_of_year="*",
        timezone=settings.TIME_ZONE,
    )
    PeriodicTask.objects.update_or_create(
        name=DAILY_TASK_NAME,
        defaults={"task": DAILY_TASK, "crontab": crontab, "interval": None, "queue": AUTOMATION_QUEUE, "enabled": True},
    )
