"""The run's own steps, for the notifications layer below it (the apps above register theirs from their
automation.py; notifications may not import automation). With them an install without Celery beat still dispatches
the events whose dispatch task was lost, the handler retries that are due, the webhook deliveries that are due and
the emails left queued; with beat, notifications.bus_sweep, the webhook sweep and the email sweep do the same."""

from __future__ import annotations

import logging

from django.conf import settings
from kombu.exceptions import OperationalError

from automation.registry import StepContext, automation_step
from notifications.emails.sending import emails_sweep
from notifications.emails.tasks import send_emails
from notifications.sweep import bus_sweep, stale_events
from notifications.webhooks.tasks import deliveries_due_count, sweep_due

logger = logging.getLogger("automation")


@automation_step(
    "event_sweep",
    order=1,
    description="Dispatch events left undispatched for a few minutes, and handler retries that are due.",
)
def event_sweep(context: StepContext) -> None:
    if context.dry_run:  # a dry run is rolled back: running handlers in it would announce what never happened
        context.say(f"{stale_events()} event(s) wait to be dispatched")
        return
    outcome = bus_sweep()
    context.count("events dispatched", outcome.events_dispatched)
    context.count("events with retries due", outcome.retries_due)


@automation_step(
    "webhook_deliveries_due",
    order=3,  # after event_sweep: what is due from before the run (the run's own deliveries get tasks at commit)
    description="Hand out the webhook deliveries that are due: retries whose time has come and deliveries whose task "
    "was lost (beat does it every minute too).",
)
def hand_out_webhook_deliveries(context: StepContext) -> None:
    if context.dry_run:
        due = deliveries_due_count()
        if due:
            context.say(f"{due} webhook deliveries would be handed out")
        return
    context.count("webhook deliveries handed out", sweep_due())


@automation_step(
    "email_sweep",
    order=200,
    description="Send the emails left queued or due a retry (one task per batch on the email queue).",
)
def email_sweep(context: StepContext) -> None:
    if context.dry_run or not settings.EMAIL_SWEEP_IN_RUN:
        return  # a dry run is rolled back, an email sent from it could not be; the unit tests switch it off
    for batch in emails_sweep():
        try:
            send_emails.delay(batch)
        except OperationalError:  # the broker is down: the emails stay queued, the next sweep hands them out
            logger.warning("The broker refused a batch of %s emails; they wait for the next sweep.", len(batch))
            context.count("emails left for the next sweep", len(batch))
        else:
            context.count("emails handed to sending", len(batch))
