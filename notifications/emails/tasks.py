"""The email tasks, on the `email` queue (config.settings CELERY_TASK_ROUTES): thin, they take ids."""

from celery import shared_task

from notifications.emails import sending
from notifications.services import SEND_EMAILS_TASK

EMAIL_QUEUE = "email"
SWEEP_TASK = "notifications.email_sweep"


@shared_task(name=SEND_EMAILS_TASK, bind=True)
def send_emails(self, email_ids: list[int]) -> None:
    """Send these emails (those still due); come back for the ones the server put off, when the first is due."""
    outcomes = sending.emails_send(email_ids)
    wait = sending.retry_after(outcomes)
    # A retry hours away is left to the sweep: a countdown that long outlives the broker's visibility timeout.
    if wait is not None and wait.total_seconds() <= 600:
        retry_ids = [o.email_id for o in outcomes if o.result == sending.SendResult.RETRY]
        self.app.tasks[SEND_EMAILS_TASK].apply_async(args=[retry_ids], countdown=wait.total_seconds())


@shared_task(name=SWEEP_TASK)
def email_sweep() -> int:
    """Send the emails left queued or due a retry (beat runs it every few minutes; so does the automation run)."""
    batches = sending.emails_sweep()
    for batch in batches:
        send_emails.delay(batch)
    return sum(len(batch) for batch in batches)
