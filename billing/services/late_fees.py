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
from django.db.models import CharField, F, Sum, Value
from django.db.models.functions import Cast, Concat

from automation.models import AutomationSettings
from billing.models import Currency, Invoice, InvoiceItem, LateFee
from billing.money import ZERO
from billing.selectors import invoice_label
from billing.services.emails import late_fee_emails
from billing.services.totals import invoices_add_untaxed
from billing.taxes import HUNDRED
from core.rows import decimal_text, insert_rows, insert_select
from notifications.bus import emit_select
from notifications.services import Subject, activity_record_many


@dataclass(frozen=True)
class LateFeeAdded:
    invoice_id: int
    client_id: int
    invoice: str  # str(invoice), for the activity entry
    sequence: int
    of: int  # the most fees this invoice can get
    amount: Decimal
    currency: Currency


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
    """Add the late fees due for these invoices, in statements that do not grow with their number. Only
    invoices still Unpaid are looked at, each locked (PostgreSQL skips one another run holds: that run charges
    it).

    Each fee is a LateFee row, keyed by (invoice, sequence), and a line of its own (not taxed); each changed
    invoice's totals and balance grow by its new fees (invoices_add_untaxed: what invoice_recalculate would
    give), and it gets an activity entry and an AddInvoiceLateFee event per fee. A fee that would come to
    nothing is not added. The fee amounts are computed here, in Decimal; the lines, activity entries and events
    are made by the database from the LateFee rows. A clash with a fee written meanwhile raises IntegrityError
    and the whole batch is rolled back."""
    if not settings.late_fee_enabled or not invoice_ids:
        return []
    limit = late_fee_limit(settings)
    percent = settings.late_fee_type == AutomationSettings.LateFeeType.PERCENT
    with transaction.atomic():
        invoices = list(
            Invoice.objects.select_for_update(skip_locked=True, of=("self",))
            .filter(pk__any=invoice_ids, status=Invoice.Status.UNPAID)
            .order_by("pk")
            .annotate(label=invoice_label())
            .values_list("pk", "due_date", "currency_id", "total", "credit_applied", "client_id", "label")
        )
        locked = [row[0] for row in invoices]
        charged: dict[int, set[int]] = defaultdict(set)
        fees_so_far = LateFee.objects.filter(invoice_id__any=locked).values_list("invoice_id", "sequence")
        for invoice_id, sequence in fees_so_far:
            charged[invoice_id].add(sequence)
        # A percent fee is of what the invoice comes to without its late fee lines (they are never taxed).
        fee_lines: dict[int, Decimal] = dict(
            InvoiceItem.objects.filter(invoice_id__any=locked, kind=InvoiceItem.Kind.LATE_FEE)
            .values("invoice_id")
            .annotate(total=Sum("amount"))
            .values_list("invoice_id", "total")
            if percent
            else []
        )
        currencies = Currency.objects.in_bulk({row[2] for row in invoices})
        added: list[LateFeeAdded] = []
        for invoice_id, due_date, currency_id, total, credit_applied, client_id, label in invoices:
            due_count = late_fees_due_count(settings, overdue_days=(today - due_date).days)
            missing = [sequence for sequence in range(1, due_count + 1) if sequence not in charged[invoice_id]]
            if not missing:
                continue
            currency = currencies[currency_id]
            before_fees = total + credit_applied - fee_lines.get(invoice_id, ZERO)
            amount = late_fee_amount(settings, currency=currency, total_before_fees=before_fees)
            if amount <= ZERO:
                continue
            added += [
                LateFeeAdded(invoice_id, client_id, label, sequence, limit, amount, currency) for sequence in missing
            ]
        _record(added, today=today)
    return added


def _record(added: list[LateFeeAdded], *, today: datetime.date) -> None:
    if not added:
        return
    ids = insert_rows(
        LateFee,
        [
            {"invoice_id": fee.invoice_id, "sequence": fee.sequence, "amount": fee.amount, "applied_on": today}
            for fee in added
        ],
        ids=True,
    )
    fees = LateFee.objects.filter(pk__any=ids)
    limit = Value(str(added[0].of))
    insert_select(
        InvoiceItem,
        fees,
        {
            "invoice_id": F("invoice_id"),
            "kind": InvoiceItem.Kind.LATE_FEE,
            "description": Concat(Value("Late fee ("), Cast("sequence", CharField()), Value(" of "), limit, Value(")")),
            "amount": F("amount"),
            "taxed": False,
        },
    )
    by_invoice: dict[int, Decimal] = defaultdict(Decimal)
    for fee in added:
        by_invoice[fee.invoice_id] += fee.amount
    invoices_add_untaxed(by_invoice)
    # Written here rather than by the database: the message shows the amount as the currency formats it
    # (thousands separators, no decimals for yen), which SQLite cannot write.
    activity_record_many(
        actor=None,
        action="invoice_late_fee_added",
        entries=[
            (
                Subject(Invoice._meta.label_lower, fee.invoice_id),
                fee.client_id,
                f"Late fee {fee.sequence} of {fee.of} added to {fee.invoice}: {fee.currency.format(fee.amount)}",
            )
            for fee in added
        ],
    )
    late_fee_emails(fees)
    emit_select(
        "AddInvoiceLateFee",
        fees,
        {
            "invoice_id": F("invoice_id"),
            "client_id": F("invoice__client_id"),
            "sequence": F("sequence"),
            # str() of the fee as computed: rounded to the currency's places ("751" for yen, "5.00" for dollars).
            "amount": decimal_text(
                "amount", LateFee._meta.get_field("amount"), places="invoice__currency__decimal_places"
            ),
            "currency": F("invoice__currency__code"),
        },
    )
