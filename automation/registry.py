"""The step registry: what a run does is the steps registered here, each from its app's `automation.py` with
`@automation_step(...)` (the apps' `ready()` import those modules, so the registry is complete before anything
runs). A step gets a StepContext: the date it runs as, whether it is a dry run, and where it reports."""

from __future__ import annotations

import datetime
import logging
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from automation.pool import automation_workers, in_batches, run_batches

logger = logging.getLogger("automation.scheduler")

# How many error lines a step run keeps (every error is logged, whatever the count).
KEPT_ERRORS = 50
# How many lines of what a step did are kept for the command to print (a run over a million services says less).
KEPT_PLAN_LINES = 10_000

Progress = Callable[[str, int, int | None], None]  # (step name, done, total or None)


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
        for batch, result in run_batches(work, in_batches(ids, size), workers=automation_workers()):
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


def registered_steps() -> list[Step]:
    return sorted(_steps.values(), key=lambda step: (step.order, step.name))
