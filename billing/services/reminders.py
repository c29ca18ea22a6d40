"""Payment reminders: each reminder level of an Unpaid invoice is handled once, keyed by (invoice, level days).

A level is reached on the invoice's due date plus its days. A run sends the most advanced level an invoice has
reached; lower levels it never had are recorded as skipped, so after a missed day the client gets one email,
the right one, and never an older one later.
"""

from __future__ import annotations

import datetime
from collections import defaultdict
from dataclasses import dataclass, field

from django.db import transaction

from billing.models import AutomationSettings, Invoice, InvoiceReminder
from notifications.bus import emit_many
from notifications.rows import insert_rows
from notifications.services import EmailToQueue, activity_record_many, email_queue_many


@dataclass(frozen=True)
class ReminderLevel:
    days: int  # before the due date (negative), on it (0) or overdue (positive)
    template: str


@dataclass(frozen=True)
class ReminderOutcome:
    """What a run did for one invoice: the level it sent (None when that one was handled before) and the lower
    levels it recorded as skipped."""

    invoice: Invoice
    sent: ReminderLevel | None
    skipped: list[ReminderLevel] = field(default_factory=list)


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
    """Send the reminders due for these invoices, in queries that do not grow with their number. Only invoices
    still Unpaid are looked at, each locked (PostgreSQL skips one another run holds: that run reminds it).

    Per invoice: the most advanced level reached is sent if it was not handled before (an email queued, an
    InvoicePaymentReminder event, an activity entry); the lower levels reached and never handled are recorded
    as skipped. A second run finds the rows and does nothing; a clash with a row written meanwhile raises
    IntegrityError and the whole batch is rolled back."""
    if not levels or not invoice_ids:
        return []
    with transaction.atomic():
        invoices = list(
            Invoice.objects.select_for_update(skip_locked=True, of=("self",))
            .filter(pk__in=invoice_ids, status=Invoice.Status.UNPAID)
            .select_related("client", "currency")
            .order_by("pk")
        )
        handled: dict[int, set[int]] = defaultdict(set)
        for invoice_id, level_days in InvoiceReminder.objects.filter(invoice__in=invoices).values_list(
            "invoice_id", "level_days"
        ):
            handled[invoice_id].add(level_days)
        outcomes: list[ReminderOutcome] = []
        for invoice in invoices:
            reached = levels_reached(invoice.due_date, levels, today=today)
            if not reached:
                continue
            latest, earlier = reached[-1], reached[:-1]
            sent = latest if latest.days not in handled[invoice.pk] else None
            skipped = [level for level in earlier if level.days not in handled[invoice.pk]]
            if sent or skipped:
                outcomes.append(ReminderOutcome(invoice=invoice, sent=sent, skipped=skipped))
        _record(outcomes, today=today)
    return outcomes


def _record(outcomes: list[ReminderOutcome], *, today: datetime.date) -> None:
    rows = []
    for outcome in outcomes:
        handled = [(level, True) for level in outcome.skipped] + ([(outcome.sent, False)] if outcome.sent else [])
        rows += [
            {
                "invoice_id": outcome.invoice.pk,
                "level_days": level.days,
                "template": level.template,
                "sent_on": today,
                "skipped": skipped,
            }
            for level, skipped in handled
        ]
    insert_rows(InvoiceReminder, rows)
    sent = [(outcome.invoice, outcome.sent) for outcome in outcomes if outcome.sent is not None]
    if not sent:
        return
    email_queue_many(
        [
            EmailToQueue(
                template=level.template,
                to_address=invoice.client.email,
                idempotency_key=reminder_key(invoice.pk, level.days),
                context={
                    "invoice_id": invoice.pk,
                    "number": invoice.number or "",
                    "due_date": invoice.due_date.isoformat(),
                    "balance_due": str(invoice.balance_due),
                    "currency": invoice.currency.code,
                    "level_days": level.days,
                },
                client_id=invoice.client_id,
            )
            for invoice, level in sent
        ]
    )
    activity_record_many(
        actor=None,
        action="invoice_reminder_sent",
        entries=[
            (invoice, invoice.client_id, f'Payment reminder "{level.template}" queued for {invoice}')
            for invoice, level in sent
        ],
    )
    emit_many(
        "InvoicePaymentReminder",
        [
            {
                "invoice_id": invoice.pk,
                "client_id": invoice.client_id,
                "level_days": level.days,
                "template": level.template,
            }
            for invoice, level in sent
        ],
    )
