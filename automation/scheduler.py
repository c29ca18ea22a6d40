"""The automation run: the one function that runs the registered steps for a date.

`automation_run()` runs the registered steps (automation.registry) in their order for one date, records what each
did in an AutomationStepRun, and announces the run with PreCronJob, DailyCronJob (once per date) and AfterCronJob.
`manage.py run_automation` and the Celery beat task both call it; nothing else decides what a run does.

Steps never read the wall clock: they get the date in their StepContext (`--date` runs them as if it were that
date). A step's own batches commit one by one, and the database's unique keys make a repeated step a no-op; on
PostgreSQL an advisory lock per step (automation.locks) also keeps two overlapping runs from doing the same step
at once (the second one records the step as skipped). A dry run executes the very same code inside one
transaction and rolls it back, so what it prints is what a real run would do, and it writes nothing.
"""

from __future__ import annotations

import datetime
import logging
from contextlib import nullcontext
from dataclasses import dataclass

from django.db import IntegrityError, transaction
from django.utils import timezone

from automation.locks import step_lock
from automation.models import AutomationRun, AutomationStepRun
from automation.registry import Progress, Step, StepContext, registered_steps
from notifications.bus import emit

logger = logging.getLogger(__name__)


@dataclass
class StepOutcome:
    name: str
    status: str
    counts: dict[str, int]
    error_count: int
    errors: list[str]
    plan: list[str]


@dataclass
class RunOutcome:
    run_date: datetime.date
    dry_run: bool
    steps: list[StepOutcome]
    run_id: int | None  # None for a dry run: it left no row

    @property
    def ok(self) -> bool:
        return all(step.status != AutomationStepRun.Status.FAILED for step in self.steps)


def automation_run(
    *,
    today: datetime.date,
    dry_run: bool = False,
    only: list[str] | tuple[str, ...] = (),
    trigger: str = "command",
    progress: Progress | None = None,
) -> RunOutcome:
    """Run the registered steps (or only those named) for `today`. A step's failure is recorded and logged and
    the next step still runs. Unknown step names are refused before anything runs."""
    steps = registered_steps()
    known = {step.name for step in steps}
    unknown = [name for name in only if name not in known]
    if unknown:
        raise ValueError(f"Unknown step(s): {', '.join(unknown)}. The steps are: {', '.join(sorted(known))}.")
    if only:
        steps = [step for step in steps if step.name in only]
    if not dry_run:
        return _run(today=today, steps=steps, dry_run=False, trigger=trigger, progress=progress)
    with transaction.atomic():
        outcome = _run(today=today, steps=steps, dry_run=True, trigger=trigger, progress=progress)
        transaction.set_rollback(True)  # a dry run writes nothing: not the steps' work, not its own log
    outcome.run_id = None
    return outcome


def _run(
    *, today: datetime.date, steps: list[Step], dry_run: bool, trigger: str, progress: Progress | None
) -> RunOutcome:
    run = AutomationRun.objects.create(run_date=today, trigger=trigger)
    with transaction.atomic():
        emit("PreCronJob", run_id=run.pk, date=today, dry_run=dry_run)
    outcomes = [_run_step(run, step, today=today, dry_run=dry_run, progress=progress) for step in steps]
    failed = any(outcome.status == AutomationStepRun.Status.FAILED for outcome in outcomes)
    run.status = AutomationRun.Status.FAILED if failed else AutomationRun.Status.SUCCEEDED
    run.finished_at = timezone.now()
    run.save(update_fields=["status", "finished_at"])
    with transaction.atomic():
        if _first_complete_run_of_the_day(run):
            emit("DailyCronJob", run_id=run.pk, date=today)
        emit("AfterCronJob", run_id=run.pk, date=today, ok=not failed, dry_run=dry_run)
    return RunOutcome(run_date=today, dry_run=dry_run, steps=outcomes, run_id=run.pk)


def _first_complete_run_of_the_day(run: AutomationRun) -> bool:
    """DailyCronJob is announced once per date, when every registered step has run for that date (with errors
    or not), by this run or by others: two overlapping runs each skip the steps the other holds, and the one
    that finishes last completes the day. The unique (run_date, daily) key decides between two at once."""
    ran = set(
        AutomationStepRun.objects.filter(
            run__run_date=run.run_date,
            status__in=(AutomationStepRun.Status.SUCCEEDED, AutomationStepRun.Status.FAILED),
        ).values_list("step", flat=True)
    )
    if not ran >= {step.name for step in registered_steps()}:
        return False
    try:
        with transaction.atomic():
            AutomationRun.objects.filter(pk=run.pk).update(daily=True)
    except IntegrityError:
        return False
    return True


def _run_step(
    run: AutomationRun, step: Step, *, today: datetime.date, dry_run: bool, progress: Progress | None
) -> StepOutcome:
    record = AutomationStepRun.objects.create(run=run, step=step.name)
    context = StepContext(step=step.name, today=today, dry_run=dry_run, _progress=progress)
    # A dry run takes no step lock: it would hold it to its rollback, and a real run starting meanwhile would
    # skip the step for the day.
    with step_lock(step.name) if not dry_run else nullcontext(True) as held:
        if not held:
            record.status = AutomationStepRun.Status.SKIPPED
            logger.info("automation step %s skipped: another run holds it", step.name)
        else:
            try:
                # A real run gives the step no transaction: its batches commit one by one, so a run killed
                # half-way keeps what it finished. A dry run's step gets a savepoint, so that one failing half-way
                # leaves the dry run's transaction usable for the next step.
                with transaction.atomic() if dry_run else nullcontext():
                    step.run(context)
            except Exception as failure:  # one step's fault must not stop the run; it is recorded and logged
                logger.exception("automation step %s failed for %s", step.name, today)
                context.error(f"The step stopped: {type(failure).__name__}: {failure}")
            record.status = (
                AutomationStepRun.Status.FAILED if context.error_count else AutomationStepRun.Status.SUCCEEDED
            )
    record.counts = dict(context.counts)
    record.error_count = context.error_count
    record.errors = "\n".join(context.errors)
    record.finished_at = timezone.now()
    record.save(update_fields=["status", "counts", "error_count", "errors", "finished_at"])
    return StepOutcome(
        name=step.name,
        status=record.status,
        counts=dict(context.counts),
        error_count=context.error_count,
        errors=list(context.errors),
        plan=list(context.plan) + ([f"... and {context.plan_overflow} more"] if context.plan_overflow else []),
    )
