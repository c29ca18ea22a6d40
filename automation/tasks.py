"""The Celery task of the daily run, started by beat on the "automation" queue (automation.beat)."""

import datetime

from celery import shared_task
from django.utils import timezone

from automation.beat import DAILY_TASK, DAILY_TASK_BEFORE_THE_MOVE
from automation.scheduler import automation_run


@shared_task(name=DAILY_TASK)
def automation_run_task(date: str | None = None) -> bool:
    """The daily run, started by Celery beat (on the "automation" queue). Returns whether every step went well;
    what each step did is in the automation log."""
    today = datetime.date.fromisoformat(date) if date else timezone.localdate()
    return automation_run(today=today, trigger="beat").ok


@shared_task(name=DAILY_TASK_BEFORE_THE_MOVE)
def automation_run_task_queued_before_the_move(date: str | None = None) -> bool:
    """The same run under the task's old name (notifications.automation_run): a message beat queued before the
    upgrade, still waiting in the broker, runs the day's steps instead of being refused as an unknown task. The
    steps' unique keys make it harmless if the new name's run happens too."""
    return automation_run_task(date)
