"""The run's last step: send the emails left queued (their task never ran: Redis down at commit, a worker gone)
or due a retry, for installs without Celery beat (which runs notifications.email_sweep every 5 minutes)."""

from __future__ import annotations

from django.conf import settings

from automation.registry import StepContext, automation_step
from notifications.emails.sending import emails_sweep
from notifications.emails.tasks import send_emails


@automation_step(
    "email_sweep",
    order=200,
    description="Send the emails left queued or due a retry (one task per batch on the email queue).",
)
def email_sweep(context: StepContext) -> None:
    if context.dry_run or not settings.EMAIL_SWEEP_IN_RUN:
        return  # a dry run is rolled back, an email sent from it could not be; the unit tests switch it off
    for batch in emails_sweep():
        send_emails.delay(batch)
        context.count("emails handed to sending", len(batch))
