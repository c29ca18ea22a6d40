"""The run's own steps (the apps register theirs from their automation.py). The bus sweep is one, so an install
without Celery beat still dispatches the events whose dispatch task was lost and the handler retries that are due;
with beat, notifications.bus_sweep does the same every minute."""

from __future__ import annotations

from automation.registry import StepContext, automation_step
from notifications.sweep import bus_sweep, stale_events


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
