import datetime
import sys

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from automation.registry import registered_steps
from automation.scheduler import automation_run

BAR_WIDTH = 30


class Command(BaseCommand):
    help = (
        "Run the scheduled automation (renewal invoices, reminders, late fees, suspensions, ...) for today, or "
        "as if it were --date. --dry-run prints what would happen and writes nothing."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("--date", help="Run as if it were this date (YYYY-MM-DD). Default: today.")
        parser.add_argument("--dry-run", action="store_true", help="Print what would happen; write nothing.")
        parser.add_argument(
            "--step", action="append", default=[], metavar="NAME", help="Run only this step (repeatable)."
        )
        parser.add_argument("--list", action="store_true", help="List the steps in the order they run, and stop.")

    def handle(self, *args, **options) -> None:
        if options["list"]:
            for step in registered_steps():
                self.stdout.write(f"{step.name:<28} {step.description}")
            return
        today = self._date(options["date"])
        self._on_terminal = self.stderr.isatty() if hasattr(self.stderr, "isatty") else sys.stderr.isatty()
        try:
            outcome = automation_run(
                today=today,
                dry_run=options["dry_run"],
                only=options["step"],
                trigger="command",
                progress=self._progress if self._on_terminal else None,
            )
        except ValueError as refused:
            raise CommandError(str(refused)) from refused
        if self._on_terminal:
            self.stderr.write("\r" + " " * (BAR_WIDTH + 60) + "\r", ending="")
        title = f"Automation run for {today.isoformat()}"
        self.stdout.write(f"{title} (DRY RUN: nothing was written)" if outcome.dry_run else title)
        for step in outcome.steps:
            counts = ", ".join(f"{what}: {n}" for what, n in step.counts.items()) or "nothing to do"
            errors = f", {step.error_count} error(s)" if step.error_count else ""
            self.stdout.write(f"  {step.name}: {step.status}; {counts}{errors}")
            if outcome.dry_run or options["verbosity"] > 1:
                for entry in step.plan:
                    first, *more = entry.split("\n")
                    self.stdout.write(f"      {first}")
                    for line in more:  # an entry's own details, e.g. an invoice's lines
                        self.stdout.write(f"          {line.strip()}")
            for line in step.errors:
                self.stdout.write(self.style.ERROR(f"      ! {line}"))
        if not outcome.ok:
            raise CommandError("Some steps had errors: see above and the automation log in the admin.")

    def _date(self, raw: str | None) -> datetime.date:
        if not raw:
            return timezone.localdate()
        try:
            return datetime.date.fromisoformat(raw)
        except ValueError:
            raise CommandError(f"--date must be a date as YYYY-MM-DD (e.g. 2026-12-01), not {raw!r}.") from None

    def _progress(self, step: str, done: int, total: int | None) -> None:
        if total:
            filled = round(BAR_WIDTH * done / total)
            bar = f"[{'#' * filled}{'.' * (BAR_WIDTH - filled)}] {done}/{total}"
        else:
            bar = f"{done} done"
        self.stderr.write(f"\r{step:<24} {bar}", ending="")
        self.stderr.flush()
