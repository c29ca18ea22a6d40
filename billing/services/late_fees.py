"""Late fees: the n-th fee of an overdue Unpaid invoice is added once, keyed by (invoice, sequence).

Fee 1 is due once the invoice is `late_fee_after_days` overdue (at least one day: never on the due date); with
`late_fee_repeat_days` N above 0, fee k+1 is due N days after fee k, up to `late_fee_max_count` fees. A run adds
every fee that is due and missing, so a missed day is caught up.

The amount, in the invoice's currency: a fixed fee is `late_fee_amount` (default currency) times the currency's
exchange rate; a percent fee is that percent of what the invoice comes to without its late fees (its other lines
with their taxes, before credit and payments: fees never compound, and paying part does not shrink the next
fee), and at least the converted `late_fee_minimum`. Both are rounded to the currency's places (ROUND_HALF_UP).
"""

from __future__ import annotations

import datetime
from collections import defaultdict
from dataclasses import dataclass
from decimal import Decimal

from django.db import transaction

from billing.models import AutomationSettings, Currency, Invoice, InvoiceItem, LateFee
from billing.money import ZERO
from billing.services.invoices import invoices_recalculate_bulk, lines_total
from billing.taxes import HUNDRED, Line
from notifications.bus import emit_many
from notifications.rows import insert_rows
from notifications.services import activity_record_many


@dataclass(frozen=True)
class LateFeeAdded:
    invoice: Invoice
    sequence: int
    of: int  # the most fees this invoice can get
    amount: Decimal


def late_fee_limit(settings: AutomationSettings) -> int:
    """The most late fees one invoice gets: one without repeats, else the configured most."""
    return max(settings.late_fee_max_count, 1) if settings.late_fee_repeat_days else 1


def late_fee_first_day(settings: AutomationSettings) -> int:
    """Days overdue when the first fee is due. 0 counts as 1: on its due date an invoice is not late yet."""
    return max(settings.late_fee_after_days, 1)


def late_fee_day(settings: AutomationSettings, sequence: int) -> int:
    """Days overdue when fee number `sequence` (from 1) is due."""
    return late_fee_first_day(settings) + (sequence - 1) * settings.late_fee_repeat_days


def late_fees_due_count(settings: AutomationSettings, *, overdue_days: int) -> int:
    """How many fees an invoice this many days overdue should have by now."""
    if overdue_days < late_fee_first_day(settings):
        return 0
    if not settings.late_fee_repeat_days:
        return 1
    repeats = (overdue_days - late_fee_first_day(settings)) // settings.late_fee_repeat_days
    return min(1 + repeats, late_fee_limit(settings))


def late_fee_amount(settings: AutomationSettings, *, currency: Currency, total_before_fees: Decimal) -> Decimal:
    """One fee in `currency` for an invoice that comes to `total_before_fees` without its late fees."""
    if settings.late_fee_type == AutomationSettings.LateFeeType.PERCENT:
        percent_fee = currency.quantize(total_before_fees * settings.late_fee_amount / HUNDRED)
        minimum = currency.quantize(settings.late_fee_minimum * currency.exchange_rate)
        return max(percent_fee, minimum)
    return currency.quantize(settings.late_fee_amount * currency.exchange_rate)


def late_fees_apply(
    *, invoice_ids: list[int], settings: AutomationSettings, today: datetime.date
) -> list[LateFeeAdded]:
    """Add the late fees due for these invoices, in queries that do not grow with their number. Only invoices
    still Unpaid are looked at, each locked (PostgreSQL skips one another run holds: that run charges it).

    Each fee is a line of its own (not taxed) and a LateFee row; each changed invoice's totals and balance are
    computed again from all its lines, as invoice_recalculate does, and it gets an activity entry and an
    AddInvoiceLateFee event per fee. A fee that would come to nothing is not added. A clash with a fee written
    meanwhile raises IntegrityError and the whole batch is rolled back."""
    if not settings.late_fee_enabled or not invoice_ids:
        return []
    limit = late_fee_limit(settings)
    with transaction.atomic():
        invoices = list(
            Invoice.objects.select_for_update(skip_locked=True, of=("self",))
            .filter(pk__in=invoice_ids, status=Invoice.Status.UNPAID)
            .select_related("currency")
            .order_by("pk")
        )
        charged: dict[int, set[int]] = defaultdict(set)
        for invoice_id, sequence in LateFee.objects.filter(invoice__in=invoices).values_list("invoice_id", "sequence"):
            charged[invoice_id].add(sequence)
        lines: dict[int, list[tuple[str, Decimal, bool]]] = defaultdict(list)
        for invoice_id, kind, amount, taxed in InvoiceItem.objects.filter(invoice__in=invoices).values_list(
            "invoice_id", "kind", "amount", "taxed"
        ):
            lines[invoice_id].append((kind, amount, taxed))

        added: list[LateFeeAdded] = []
        for invoice in invoices:
            overdue_days = (today - invoice.due_date).days
            due_count = late_fees_due_count(settings, overdue_days=overdue_days)
            missing = [sequence for sequence in range(1, due_count + 1) if sequence not in charged[invoice.pk]]
            if not missing:
                continue
            before_fees = [
                Line(amount=amount, taxed=taxed)
                for kind, amount, taxed in lines[invoice.pk]
                if kind != InvoiceItem.Kind.LATE_FEE
            ]
            amount = late_fee_amount(
                settings, currency=invoice.currency, total_before_fees=lines_total(invoice, before_fees)
            )
            if amount <= ZERO:
                continue
            for sequence in missing:
                added.append(LateFeeAdded(invoice=invoice, sequence=sequence, of=limit, amount=amount))
                lines[invoice.pk].append((InvoiceItem.Kind.LATE_FEE, amount, False))
        _record(added, lines=lines, today=today)
    return added


def _record(added: list[LateFeeAdded], *, lines: dict, today: datetime.date) -> None:
    if not added:
        return
    insert_rows(
        InvoiceItem,
        [
            {
                "invoice_id": fee.invoice.pk,
                "kind": InvoiceItem.Kind.LATE_FEE,
                "description": f"Late fee ({fee.sequence} of {fee.of})",
                "amount": fee.amount,
                "taxed": False,
            }
            for fee in added
        ],
    )
    insert_rows(
        LateFee,
        [
            {"invoice_id": fee.invoice.pk, "sequence": fee.sequence, "amount": fee.amount, "applied_on": today}
            for fee in added
        ],
    )
    changed = list({fee.invoice.pk: fee.invoice for fee in added}.values())
    invoices_recalculate_bulk(
        changed,
        lines_by_invoice={
            invoice.pk: [Line(amount=amount, taxed=taxed) for _kind, amount, taxed in lines[invoice.pk]]
            for invoice in changed
        },
    )
    activity_record_many(
        actor=None,
        action="invoice_late_fee_added",
        entries=[
            (
                fee.invoice,
                fee.invoice.client_id,
                f"Late fee {fee.sequence} of {fee.of} added to {fee.invoice}: "
                f"{fee.invoice.currency.format(fee.amount)}",
            )
            for fee in added
        ],
    )
    emit_many(
        "AddInvoiceLateFee",
        [
            {
                "invoice_id": fee.invoice.pk,
                "client_id": fee.invoice.client_id,
                "sequence": fee.sequence,
                "amount": str(fee.amount),
                "currency": fee.invoice.currency.code,
            }
            for fee in added
        ],
    )
