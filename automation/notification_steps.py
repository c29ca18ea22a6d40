"""The run's steps for the notifications layer below it (notifications may not import automation, so its work for
installs without Celery beat is registered here): hand out the webhook deliveries that are due."""

from __future__ import annotations

from automation.registry import StepContext, automation_step
from notifications.webhooks.tasks import deliveries_due_count, sweep_due


@automation_step(
    "webhook_deliveries_due",
    order=3,  # first: what is due from before the run (the run's own deliveries get their tasks at commit)
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
