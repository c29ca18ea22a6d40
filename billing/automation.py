"""Billing's steps of the automation run (see automation.registry): payment reminders and late fees.

Each step selects the ids of the invoices with something to do, then works through them in batches; the
service locks a batch's invoices, checks them again and does its writes for the whole batch at once.
"""

from __future__ import annotations

import datetime
from collections import defaultdict

from django.db import IntegrityError
from django.db.models import BooleanField, Count, Exists, ExpressionWrapper, OuterRef, Q

from automation.models import AutomationSettings
from automation.registry import StepContext, automation_step
from billing.models import Invoice, InvoiceReminder
from billing.services.late_fees import late_fee_day, late_fee_limit, late_fees_apply
from billing.services.reminders import ReminderLevel, payment_reminders_send, reminder_holds, reminder_levels

BATCH_SIZE = 2000


def _days(n: int) -> str:
    return f"{n} day{'' if n == 1 else 's'}"


def _how_late(invoice: Invoice, today: datetime.date) -> str:
    overdue_days = (today - invoice.due_date).days
    if overdue_days < 0:
        return f"due in {_days(-overdue_days)}"
    return f"{_days(overdue_days)} overdue" if overdue_days else "due today"


def _invoices_due_a_reminder(
    levels: list[ReminderLevel], *, today: datetime.date
) -> tuple[list[int], dict[str, list[int]]]:
    """Unpaid invoices whose most advanced level reached has not been handled: for each level, those whose due
    date puts them between it and the next level, without a row for it. An invoice whose latest level is done
    is not read again, however long it stays unpaid. Those a registered hold names (reminder_hold) are left
    out, and returned apart under the hold's reason, for the run's log."""
    condition = Q()
    for level, next_level in zip(levels, [*levels[1:], None], strict=True):
        latest_reached = Q(due_date__lte=today - datetime.timedelta(days=level.days))
        if next_level is not None:
            latest_reached &= Q(due_date__gt=today - datetime.timedelta(days=next_level.days))
        handled = InvoiceReminder.objects.filter(invoice=OuterRef("pk"), level_days=level.days)
        condition |= latest_reached & ~Exists(handled)
    # One pass: each invoice with a flag per hold, rather than the selection run again for every hold.
    holds = reminder_holds()
    marks = {
        f"held_{n}": ExpressionWrapper(Q(pk__in=hold.invoices(today)), output_field=BooleanField())
        for n, hold in enumerate(holds)
    }
    due = Invoice.objects.filter(condition, status=Invoice.Status.UNPAID).annotate(**marks).order_by("pk")
    ids: list[int] = []
    held: dict[str, list[int]] = defaultdict(list)
    for pk, *flags in due.values_list("pk", *marks):
        first = next((n for n, flag in enumerate(flags) if flag), None)
        if first is None:
            ids.append(pk)
        else:
            held[holds[first].why].append(pk)
    return ids, dict(held)


@automation_step(
    "payment_reminders",
    order=20,
    description="Queue the reminder email of each unpaid invoice's levels as they are reached, once each; after a "
    "missed day only the most advanced one.",
)
def send_payment_reminders(context: StepContext) -> None:
    levels = reminder_levels(AutomationSettings.load())
    if not levels:
        return
    ids, held = _invoices_due_a_reminder(levels, today=context.today)
    for why, waiting in held.items():
        context.count("reminders held", len(waiting))
        told = waiting[: context.room()]
        heads = _invoice_heads(told)
        for pk in told:
            context.say(f"{heads[pk].display_number} (client #{heads[pk].client_id}): reminder held, {why}")
        context.untold(len(waiting) - len(told))

    def remind(batch: list[int]) -> list:
        return payment_reminders_send(invoice_ids=batch, levels=levels, today=context.today)

    for _batch, outcomes in context.each_batch(ids, BATCH_SIZE, remind):
        context.count("reminders queued", sum(1 for outcome in outcomes if outcome.sent is not None))
        context.count("reminders skipped", sum(len(outcome.skipped) for outcome in outcomes))
        told = outcomes[: context.room()]
        heads = _invoice_heads([outcome.invoice_id for outcome in told])
        for outcome in told:
            invoice = heads[outcome.invoice_id]
            who = f"{invoice.display_number} (client #{invoice.client_id})"
            # One line per invoice: the reminder queued, and how many earlier levels it stands for.
            skipped = (
                f"; {len(outcome.skipped)} earlier level{'s' if len(outcome.skipped) > 1 else ''} skipped"
                if outcome.skipped
                else ""
            )
            if outcome.sent is not None:
                context.say(f'{who}: reminder "{outcome.sent.template}" ({_how_late(invoice, context.today)}){skipped}')
            else:
                context.say(
                    f"{who}: {', '.join(level.template for level in outcome.skipped)} skipped, a later one was queued"
                )
        context.untold(len(outcomes) - len(told))


def _invoice_heads(ids: list[int]) -> dict[int, Invoice]:
    """What a plan line says of these invoices (number, client, due date), read for the lines kept only."""
    return Invoice.objects.only("number", "status", "client_id", "due_date").in_bulk(ids)


def _invoices_due_a_late_fee(settings: AutomationSettings, *, today: datetime.date) -> list[int]:
    """Unpaid invoices with fewer fees than are due by now: with k fees, those at least as overdue as fee k+1
    needs. An invoice waiting for its next fee, or with all its fees, is not read."""
    condition = Q()
    for fees_so_far in range(late_fee_limit(settings)):
        next_fee_by = today - datetime.timedelta(days=late_fee_day(settings, fees_so_far + 1))
        condition |= Q(fee_count=fees_so_far, due_date__lte=next_fee_by)
    due = (
        Invoice.objects.filter(status=Invoice.Status.UNPAID)
        .filter(due_date__lte=today - datetime.timedelta(days=late_fee_day(settings, 1)))
        .annotate(fee_count=Count("late_fees"))
        .filter(condition)
    )
    return list(due.order_by("pk").values_list("pk", flat=True))


@automation_step(
    "late_fees",
    order=30,
    description="Add the late fees due on overdue unpaid invoices (each once; a missed day is caught up).",
)
def add_late_fees(context: StepContext) -> None:
    settings = AutomationSettings.load()
    if not settings.late_fee_enabled:
        return
    ids = _invoices_due_a_late_fee(settings, today=context.today)

    def charge(batch: list[int]) -> list | str:
        try:
            return late_fees_apply(invoice_ids=batch, settings=settings, today=context.today)
        except IntegrityError as clash:
            # Only possible without PostgreSQL's locks: the batch is rolled back, the next run adds what is due.
            return f"Invoices {batch[0]}..{batch[-1]}: a late fee was added meanwhile ({clash})."

    for _batch, added in context.each_batch(ids, BATCH_SIZE, charge):
        if isinstance(added, str):
            context.error(added)
            continue
        context.count("late fees added", len(added))
        told = added[: context.room()]
        heads = _invoice_heads([fee.invoice_id for fee in told])
        for fee in told:
            invoice = heads[fee.invoice_id]
            context.say(
                f"{invoice.display_number} (client #{invoice.client_id}): late fee {fee.sequence} of {fee.of}, "
                f"{fee.currency.format(fee.amount)} ({_how_late(invoice, context.today)})"
            )
        context.untold(len(added) - len(told))
