"""Payment reminders: each reminder level of an Unpaid invoice is handled once, keyed by (invoice, level days).

A level is reached on the invoice's due date plus its days. A run sends the most advanced level an invoice has
reached; lower levels it never had are recorded as skipped, so after a missed day the client gets one email,
the right one, and never an older one later.
"""

from __future__ import annotations

import datetime
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field

from django.db import transaction
from django.db.models import F, Q, QuerySet, Value
from django.db.models.functions import Concat

from automation.models import AutomationSettings
from billing.models import Invoice, InvoiceReminder
from billing.selectors import invoice_label
from billing.services.emails import reminder_emails
from core.rows import insert_select
from notifications.bus import emit_select
from notifications.services import activity_record_select


@dataclass(frozen=True)
class ReminderLevel:
    days: int  # before the due date (negative), on it (0) or overdue (positive)
    template: str


@dataclass(frozen=True)
class ReminderOutcome:
    """What a run did for one invoice: the level it sent (None when that one was handled before) and the lower
    levels it recorded as skipped."""

    invoice_id: int
    sent: ReminderLevel | None
    skipped: list[ReminderLevel] = field(default_factory=list)


# Invoices an app above billing holds back from reminders for the day: each hold gives, for a date, a queryset of
# the ids of the invoices to leave alone, and says why for the run's log. Registered in the app's ready(), as its
# event handlers are.
@dataclass(frozen=True)
class ReminderHold:
    invoices: Callable[[datetime.date], QuerySet]
    why: str  # what the run's plan says of an invoice held ("a cancellation request will withdraw lines from it")


_HOLDS: list[ReminderHold] = []


def reminder_hold(invoices: Callable[[datetime.date], QuerySet], *, why: str) -> None:
    """Register a hold: on each run, reminders wait for the invoices `invoices(today)` names. An invoice held is
    not marked as reminded: once the hold lifts, the next run sends the most advanced level it has reached."""
    if all(hold.invoices is not invoices for hold in _HOLDS):
        _HOLDS.append(ReminderHold(invoices=invoices, why=why))


def reminder_holds() -> list[ReminderHold]:
    return list(_HOLDS)


def reminder_levels(settings: AutomationSettings) -> list[ReminderLevel]:
    """The configured levels, earliest first."""
    levels = (
        ReminderLevel(days=int(level["days"]), template=str(level["template"])) for level in settings.reminder_levels
    )
    return sorted(levels, key=lambda level: level.days)


def levels_reached(
    due_date: datetime.date, levels: list[ReminderLevel], *, today: datetime.date
) -> list[ReminderLevel]:
    """The levels an invoice due on `due_date` has reached by `today`, earliest first."""
    return [level for level in levels if today >= due_date + datetime.timedelta(days=level.days)]


def reminder_key(invoice_id: int, level_days: int) -> str:
    """The reminder email's idempotency key: one email per (invoice, level), like the InvoiceReminder row."""
    return f"reminder:{invoice_id}:{level_days}"


def payment_reminders_send(
    *, invoice_ids: list[int], levels: list[ReminderLevel], today: datetime.date
) -> list[ReminderOutcome]:
    """Send the reminders due for these invoices, in statements that do not grow with their number. Only
    invoices still Unpaid are looked at, each locked (PostgreSQL skips one another run holds: that run reminds
    it).

    Per invoice: the most advanced level reached is sent if it was not handled before (an email queued, an
    InvoicePaymentReminder event, an activity entry); the lower levels reached and never handled are recorded
    as skipped. The database makes every row from the invoices (INSERT ... SELECT, two per level: the invoices
    for which it is the latest level reached, and those already past it), and the (invoice, level) key decides:
    a level handled before, by an earlier run or one running now, is not written again and not sent."""
    if not levels or not invoice_ids:
        return []
    with transaction.atomic():
        locked = list(
            Invoice.objects.select_for_update(skip_locked=True, of=("self",))
            .filter(pk__any=invoice_ids, status=Invoice.Status.UNPAID)
            .values_list("pk", flat=True)
        )
        invoices = Invoice.objects.filter(pk__any=locked)
        sent: dict[int, ReminderLevel] = {}
        sent_rows: list[int] = []
        skipped: dict[int, list[ReminderLevel]] = defaultdict(list)
        for level, later in zip(levels, [*levels[1:], None], strict=True):
            reached = invoices.filter(due_date__lte=today - datetime.timedelta(days=level.days))
            past = Q(due_date__lte=today - datetime.timedelta(days=later.days)) if later else Q(pk__in=[])
            for reminder_id, invoice_id in _record(reached.exclude(past), level, today=today, skipped=False):
                sent[invoice_id] = level
                sent_rows.append(reminder_id)
            if later is not None:
                for _reminder_id, invoice_id in _record(reached.filter(past), level, today=today, skipped=True):
                    skipped[invoice_id].append(level)
        _announce(InvoiceReminder.objects.filter(pk__any=sent_rows))
    return [
        ReminderOutcome(invoice_id=invoice_id, sent=sent.get(invoice_id), skipped=skipped.get(invoice_id, []))
        for invoice_id in sorted(sent.keys() | skipped.keys())
    ]


def _record(invoices, level: ReminderLevel, *, today: datetime.date, skipped: bool) -> list[tuple[int, int]]:
    """An InvoiceReminder row for `level` on each of these invoices that has none; (row id, invoice id) of
    those written."""
    return insert_select(
        InvoiceReminder,
        invoices,
        {
            "invoice_id": F("pk"),
            "level_days": level.days,
            "template": level.template,
            "sent_on": today,
            "skipped": skipped,
        },
        ignore_conflicts=True,
        returning=("id", "invoice_id"),
    )


def _announce(sent: QuerySet[InvoiceReminder]) -> None:
    """For the reminders sent: the email (once per idempotency key, see reminder_key), an activity entry and an
    InvoicePaymentReminder event each, made by the database from the rows."""
    if not sent.exists():
        return
    reminder_emails(sent)
    activity_record_select(
        actor=None,
        action="invoice_reminder_sent",
        subject_type=Invoice._meta.label_lower,
        queryset=sent,
        subject_id=F("invoice_id"),
        client_id=F("invoice__client_id"),
        message=Concat(Value('Payment reminder "'), F("template"), Value('" queued for '), invoice_label("invoice__")),
    )
    emit_select(
        "InvoicePaymentReminder",
        sent,
        {
            "invoice_id": F("invoice_id"),
            "client_id": F("invoice__client_id"),
            "level_days": F("level_days"),
            "template": F("template"),
        },
    )
