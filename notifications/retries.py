"""An admin's retry of failed handler runs (the Handler runs and Events admin's "Retry" action): each runs only its
own handler on its own event, now, whatever its next attempt time; a run that succeeded never runs again."""

from __future__ import annotations

import enum
from dataclasses import dataclass

from notifications.dispatch import handlers_for, run_handler
from notifications.hook_models import switched_off
from notifications.models import HandlerRun
from notifications.services import Actor, activity_record


class RetryResult(enum.Enum):
    SUCCEEDED = "succeeded"
    FAILED_AGAIN = "failed again"
    ALREADY_SUCCEEDED = "already succeeded"  # nothing ran
    NOT_REGISTERED = "not registered"  # the handler is gone (its package removed): nothing ran
    SWITCHED_OFF = "switched off"  # an admin switched the hook off for the event: nothing ran


@dataclass(frozen=True)
class RetryOutcome:
    run_id: int
    handler: str
    event_id: int
    result: RetryResult


def handler_runs_retry(*, run_ids: list[int], actor: Actor) -> list[RetryOutcome]:
    """Retry these handler runs, oldest first, each in its own transaction (one failing again stops no other).
    Each retry that ran is in the activity log."""
    runs = list(HandlerRun.objects.select_related("event").filter(pk__in=run_ids).order_by("pk"))
    off = switched_off({run.event.name for run in runs})
    outcomes = []
    for run in runs:
        registration = next((r for r in handlers_for(run.event.name) if r.dotted_name == run.handler), None)
        if run.status == HandlerRun.Status.SUCCEEDED:
            result = RetryResult.ALREADY_SUCCEEDED
        elif registration is None:
            result = RetryResult.NOT_REGISTERED
        elif (run.event.name, run.handler) in off:
            result = RetryResult.SWITCHED_OFF
        else:
            after = run_handler(run.event, registration, force=True)
            if after is None:  # another worker's retry succeeded meanwhile
                result = RetryResult.ALREADY_SUCCEEDED
            else:
                result = (
                    RetryResult.SUCCEEDED if after.status == HandlerRun.Status.SUCCEEDED else RetryResult.FAILED_AGAIN
                )
                activity_record(
                    actor=actor,
                    action="handler_retried",
                    subject=run,
                    message=f"Retried {run.handler} on {run.event}: {result.value} (attempt {after.attempts})",
                )
        outcomes.append(RetryOutcome(run_id=run.pk, handler=run.handler, event_id=run.event_id, result=result))
    return outcomes
