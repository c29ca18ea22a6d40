"""The automation run: a registry of named steps, and the one function that runs them for a date.

Each app declares its steps in its own `automation.py` with `@automation_step(...)`; the apps' `ready()` import
those modules, so the registry is complete before anything runs. `automation_run()` runs the registered steps
in their order for one date, records what each did in an AutomationStepRun, and announces the run with
PreCronJob, DailyCronJob (once per date) and AfterCronJob. `manage.py run_automation` and the Celery beat task
both call it; nothing else decides what a run does.

Steps never read the wall clock: they get the date in their StepContext (`--date` runs them as if it were that
date). A step's own batches commit one by one, and the database's unique keys make a repeated step a no-op; on
PostgreSQL an advisory lock per step also keeps two overlapping runs from doing the same step at once (the
second one records the step as skipped). A dry run executes the very same code inside one transaction and rolls
it back, so what it prints is what a real run would do, and it writes nothing.
"""

from __future__ import annotations

import datetime
import logging
import queue
import threading
import zlib
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field

from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from notifications.bus import emit
from notifications.models import AutomationRun, AutomationStepRun

logger = logging.getLogger(__name__)

# How many error lines a step run keeps (every error is logged, whatever the count).
KEPT_ERRORS = 50
# How many lines of what a step did are kept for the command to print (a run over a million services says less).
KEPT_PLAN_LINES = 10_000

Progress = Callable[[str, int, int | None], None]  # (step name, done, total or None)


def automation_workers() -> int:
    """How many batches of a step run at once (settings.AUTOMATION_WORKERS, default 2: a small two-core host).
    Each worker is a thread with its own database connection; while one waits for PostgreSQL, the other runs
    its Python. Only on PostgreSQL and outside a transaction: a dry run (one transaction rolled back) and a
    test inside a transaction run their batches one after the other on their own connection."""
    if connection.vendor != "postgresql" or connection.in_atomic_block:
        return 1
    from django.conf import settings

    return max(1, settings.AUTOMATION_WORKERS)


@dataclass
class StepContext:
    """What a step gets: the date it runs as, whether it is a dry run, and where it reports."""

    step: str
    today: datetime.date
    dry_run: bool
    counts: Counter = field(default_factory=Counter)
    errors: list[str] = field(default_factory=list)
    error_count: int = 0
    plan: list[str] = field(default_factory=list)
    plan_overflow: int = 0
    _progress: Progress | None = None

    def count(self, what: str, n: int = 1) -> None:
        """Add to one of the step's counts (e.g. "invoices created")."""
        if n:
            self.counts[what] += n

    def error(self, message: str) -> None:
        """Record one failure that the step got past (the rest of its work goes on)."""
        self.error_count += 1
        if len(self.errors) < KEPT_ERRORS:
            self.errors.append(message)
        logger.error("automation step %s (%s): %s", self.step, self.today, message)

    def say(self, line: str | Callable[[], str]) -> None:
        """One line of what the step did, or would do: what a dry run prints. Give a callable for a line that
        costs something to build: it is only called while the kept lines are not full."""
        if len(self.plan) < KEPT_PLAN_LINES:
            self.plan.append(line() if callable(line) else line)
        else:
            self.plan_overflow += 1

    def room(self) -> int:
        """How many more plan lines are kept: a step reads what it needs for its lines only up to this."""
        return max(0, KEPT_PLAN_LINES - len(self.plan))

    def untold(self, n: int) -> None:
        """`n` things were done that get no line of their own (the kept lines are full)."""
        self.plan_overflow += n

    def progress(self, done: int, total: int | None = None) -> None:
        if self._progress is not None:
            self._progress(self.step, done, total)

    def each_batch(self, ids: list, size: int, work: Callable[[list], object]) -> Iterator[tuple[list, object]]:
        """Run `work(batch)` over `ids` a batch at a time and yield (batch, what it returned) in batch order,
        reporting progress. `work` commits its own batch and reports nothing: it may run in a worker thread
        (see automation_workers), so counts, errors and plan lines are given here, in the step's thread."""
        done = 0
        for batch, result in _run_batches(work, in_batches(ids, size), workers=automation_workers()):
            yield batch, result
            done += len(batch)
            self.progress(done, len(ids))


@dataclass(frozen=True)
class Step:
    name: str
    order: int
    description: str
    run: Callable[[StepContext], None]

    @property
    def dotted_name(self) -> str:
        return f"{self.run.__module__}.{self.run.__qualname__}"


_steps: dict[str, Step] = {}


def automation_step(name: str, *, order: int, description: str) -> Callable:
    """Decorator: make `func(context)` the step `name` of every run, run after the steps of lower order."""

    def decorator(func: Callable[[StepContext], None]) -> Callable[[StepContext], None]:
        existing = _steps.get(name)
        if existing is not None and existing.dotted_name != f"{func.__module__}.{func.__qualname__}":
            raise ValueError(f"Two automation steps are named {name!r}: {existing.dotted_name} and {func}.")
        _steps[name] = Step(name=name, order=order, description=description, run=func)
        return func

    return decorator


def in_batches(ids: list[int], size: int) -> Iterator[list[int]]:
    """Consecutive slices of `ids`: a step locks, changes and commits one batch at a time."""
    for start in range(0, len(ids), size):
        yield ids[start : start + size]


def _run_batches(work: Callable[[list], object], batches: Iterable[list], *, workers: int) -> Iterator:
    """(batch, work(batch)) in batch order, with up to `workers` threads taking batches in turn. Each thread
    closes its database connection when the batches run out. A batch that raises stops the others from starting;
    the batches the other threads had begun are finished and handed out, then the exception is raised here."""
    batches = list(batches)
    # A worker opens a connection of its own: for a single batch (most days of a small provider) that costs more
    # than it saves, so one batch runs here.
    workers = min(workers, len(batches))
    if workers <= 1:
        for batch in batches:
            yield batch, work(batch)
        return
    jobs: queue.SimpleQueue = queue.SimpleQueue()
    results: queue.SimpleQueue = queue.SimpleQueue()
    for index, batch in enumerate(batches):
        jobs.put((index, batch))
    stop = threading.Event()

    def worker() -> None:
        try:
            while not stop.is_set():
                try:
                    index, batch = jobs.get_nowait()
                except queue.Empty:
                    return
                try:
                    results.put((index, work(batch), None))
                except BaseException as failure:  # handed to the step's thread, which raises it
                    stop.set()
                    results.put((index, None, failure))
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, name=f"automation-{n}", daemon=True) for n in range(workers)]
    for thread in threads:
        thread.start()
    try:
        finished: dict[int, tuple] = {}
        for next_index in range(len(batches)):
            while next_index not in finished:
                index, result, failure = results.get()
                finished[index] = (result, failure)
            result, failure = finished.pop(next_index)
            if failure is not None:
                # The other workers finish the batches they began, and those commit: they are handed out (their
                # counts and lines are real) before the failure is raised.
                stop.set()
                for thread in threads:
                    thread.join()
                while not results.empty():
                    index, result, other = results.get()
                    finished[index] = (result, other)
                for index in sorted(finished):
                    if finished[index][1] is None:
                        yield batches[index], finished[index][0]
                raise failure
            yield batches[next_index], result
    finally:
        stop.set()
        for thread in threads:
            thread.join()


def registered_steps() -> list[Step]:
    return sorted(_steps.values(), key=lambda step: (step.order, step.name))


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
    with _step_lock(step.name) if not dry_run else nullcontext(True) as held:
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


DAILY_TASK_NAME = "Automation: the daily run"
DAILY_TASK = "notifications.automation_run"
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


@contextmanager
def _step_lock(name: str) -> Iterator[bool]:
    """On PostgreSQL, a session advisory lock per step, held across the step's own commits; yields whether it
    was taken. SQLite takes one writer at a time anyway, and the unique keys keep a repeated step harmless."""
    if connection.vendor != "postgresql":
        yield True
        return
    key = zlib.crc32(f"automation-step:{name}".encode())
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s)", [key])
        held = cursor.fetchone()[0]
    try:
        yield held
    finally:
        if held:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_unlock(%s)", [key])
