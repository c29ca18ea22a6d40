"""Grace and redemption fees: what renewing an Expired domain late costs on top of its renewal, added to the Unpaid
invoice that bills its current period (the DOMAIN line starting on its next due date).

A TLD says how long each window lasts (`Tld.grace_period_days`, `Tld.redemption_period_days`) and `TldFees` what
each costs in a currency. Counted in days after the expiry date:

- grace: 1 to grace days (the expiry date itself is still the client's: the domain expires the day after);
- redemption: the next redemption days;
- past both: no fee (the registry has let the name go or is about to; see docs/DOMAINS.md).

A window that has opened makes its fee due, and due fees stay due: in redemption the grace fee is due too (a
daily run added it in grace; a run after a gap adds both), so what an invoice comes to does not depend on which
days the run missed. No TldFees row in the invoice's currency, an empty fee or a zero one: nothing for that fee.

Each fee is an invoice line of its own kind, `related_id` the domain and `period_start` the renewal period's, so
billing_item_once_per_period refuses a second one: the lines are written with ON CONFLICT DO NOTHING and only
those the database wrote move the totals, the activity log and the events."""

from __future__ import annotations

import datetime
from collections import defaultdict
from dataclasses import dataclass
from decimal import Decimal

from django.db import transaction
from django.db.models import F, Max, OuterRef, Subquery, Value
from django.db.models.functions import Concat

from billing.models import Currency, Invoice, InvoiceItem
from billing.money import ZERO
from billing.selectors import invoice_label
from billing.services.totals import invoices_recalculate
from core.rows import insert_select
from notifications.bus import emit_many
from notifications.services import Subject, activity_record_many
from provisioning.domain_selectors import tlds_for_names
from provisioning.models import Domain, Tld, TldFees

GRACE = InvoiceItem.Kind.DOMAIN_GRACE_FEE
REDEMPTION = InvoiceItem.Kind.DOMAIN_REDEMPTION_FEE
# How a line names its fee (then " - <domain>"), and the event each one emits.
FEE_WORDS = {GRACE: "Grace period fee", REDEMPTION: "Redemption fee"}
FEE_EVENTS = {GRACE: "DomainGraceFeeAdded", REDEMPTION: "DomainRedemptionFeeAdded"}


@dataclass(frozen=True)
class DomainFeeAdded:
    invoice_id: int
    client_id: int
    invoice: str  # str(invoice), for the activity entry
    domain_id: int
    domain: str
    kind: str  # GRACE or REDEMPTION
    amount: Decimal
    currency: Currency
    days_after_expiry: int


def fee_kinds_due(*, days_after_expiry: int, grace_days: int, redemption_days: int) -> list[str]:
    """The fees a domain this many days past its expiry date owes by now: the grace fee from the first day after
    expiry while the TLD has a grace period, the redemption fee once past grace; none past both windows."""
    if days_after_expiry < 1 or days_after_expiry > grace_days + redemption_days:
        return []
    due = [GRACE] if grace_days > 0 else []
    if days_after_expiry > grace_days:
        due.append(REDEMPTION)
    return due


def longest_window_days() -> int:
    """The most days after expiry any TLD still charges a fee for (its grace plus redemption days)."""
    longest = Tld.objects.aggregate(days=Max(F("grace_period_days") + F("redemption_period_days")))["days"]
    return longest or 0


def domain_fees_apply(*, invoice_ids: list[int], today: datetime.date) -> list[DomainFeeAdded]:
    """Add the grace and redemption fees due by `today` to these invoices, in statements that do not grow with
    the number of invoices or domains (one insert per distinct fee kind and amount). Only Unpaid invoices are
    looked at, each locked (PostgreSQL skips one another run holds: that run charges it); only Expired domains
    whose current period (the line starting on their next due date) the invoice bills.

    Each fee line is taxed as the renewal line it follows and covers the same period; the invoices' totals are
    computed again from all their lines (billing.services.totals.invoices_recalculate), and each invoice gets one
    activity entry and each fee a DomainGraceFeeAdded or DomainRedemptionFeeAdded event. A fee already on the
    invoice is refused by the database's key and changes nothing."""
    if not invoice_ids:
        return []
    with transaction.atomic():
        invoices = {
            pk: (currency_id, client_id, label)
            for pk, currency_id, client_id, label in Invoice.objects.select_for_update(skip_locked=True, of=("self",))
            .filter(pk__any=invoice_ids, status=Invoice.Status.UNPAID)
            .order_by("pk")
            .annotate(label=invoice_label())
            .values_list("pk", "currency_id", "client_id", "label")
        }
        renewals = list(
            InvoiceItem.objects.filter(invoice_id__any=list(invoices), kind=InvoiceItem.Kind.DOMAIN)
            .filter(related_id__isnull=False, period_start__isnull=False)
            .values_list("pk", "invoice_id", "related_id", "period_start")
        )
        domains = {
            pk: (name, expiry_date, next_due_date)
            for pk, name, expiry_date, next_due_date in Domain.objects.filter(
                pk__any=[row[2] for row in renewals], status=Domain.Status.EXPIRED, expiry_date__lt=today
            ).values_list("pk", "name", "expiry_date", "next_due_date")
        }
        # The line of the domain's current period: the one starting on its next due date (payment moves it on).
        current = [row for row in renewals if row[2] in domains and domains[row[2]][2] == row[3]]
        tlds = tlds_for_names(names=[domains[row[2]][0] for row in current])
        fees = {
            (tld_id, currency_id): {GRACE: grace, REDEMPTION: redemption}
            for tld_id, currency_id, grace, redemption in TldFees.objects.filter(
                tld_id__in={tld.pk for tld in tlds.values()}, currency_id__in={row[0] for row in invoices.values()}
            ).values_list("tld_id", "currency_id", "grace_fee", "redemption_fee")
        }
        wanted: dict[tuple[str, Decimal], list[int]] = defaultdict(list)  # (kind, amount): renewal line ids
        late_by: dict[int, int] = {}  # domain id: days after expiry
        for line_id, invoice_id, domain_id, _start in current:
            name, expiry_date, _due = domains[domain_id]
            tld = tlds.get(name)
            if tld is None:
                continue
            late_by[domain_id] = (today - expiry_date).days
            priced = fees.get((tld.pk, invoices[invoice_id][0]), {})
            for kind in fee_kinds_due(
                days_after_expiry=late_by[domain_id],
                grace_days=tld.grace_period_days,
                redemption_days=tld.redemption_period_days,
            ):
                amount = priced.get(kind)
                if amount is not None and amount > ZERO:
                    wanted[(kind, amount)].append(line_id)
        written = _lines_write(wanted)
        if not written:
            return []
        currencies = Currency.objects.in_bulk({invoices[row[1]][0] for row in written})
        added = [
            DomainFeeAdded(
                invoice_id=invoice_id,
                client_id=invoices[invoice_id][1],
                invoice=invoices[invoice_id][2],
                domain_id=domain_id,
                domain=domains[domain_id][0],
                kind=kind,
                amount=amount,
                currency=currencies[invoices[invoice_id][0]],
                days_after_expiry=late_by[domain_id],
            )
            for _pk, invoice_id, domain_id, kind, amount in sorted(written)
        ]
        invoices_recalculate(sorted({fee.invoice_id for fee in added}))
        _record(added)
    return added


def _lines_write(wanted: dict[tuple[str, Decimal], list[int]]) -> list[tuple]:
    """The fee lines, made by the database from the renewal lines they follow (same invoice, domain, period and
    tax flag): one INSERT ... SELECT per (kind, amount), a line the key already holds left out. Returns (id,
    invoice id, domain id, kind, amount) of the lines written."""
    name = Subquery(Domain.objects.filter(pk=OuterRef("related_id")).order_by().values("name")[:1])
    written: list[tuple] = []
    for (kind, amount), line_ids in sorted(wanted.items()):
        rows = insert_select(
            InvoiceItem,
            InvoiceItem.objects.filter(pk__any=line_ids),
            {
                "invoice_id": F("invoice_id"),
                "kind": kind,
                "related_id": F("related_id"),
                "description": Concat(Value(f"{FEE_WORDS[kind]} - "), name),
                "amount": amount,
                "taxed": F("taxed"),
                "period_start": F("period_start"),
                "period_end": F("period_end"),
            },
            ignore_conflicts=True,
            returning=("id", "invoice_id", "related_id"),
        )
        # The kind and amount as given, not as read back (SQLite returns a whole amount as an int).
        written += [(line_id, invoice_id, domain_id, kind, amount) for line_id, invoice_id, domain_id in rows]
    return written


def _record(added: list[DomainFeeAdded]) -> None:
    """One activity entry per invoice naming its new fees (amounts as the currency writes them), one event per fee."""
    by_invoice: dict[int, list[DomainFeeAdded]] = defaultdict(list)
    for fee in added:
        by_invoice[fee.invoice_id].append(fee)
    activity_record_many(
        actor=None,
        action="invoice_domain_fees_added",
        entries=[
            (
                Subject(Invoice._meta.label_lower, invoice_id),
                fees[0].client_id,
                f"Added to {fees[0].invoice}: "
                + "; ".join(
                    f"{FEE_WORDS[fee.kind].lower()} for {fee.domain}, {fee.currency.format(fee.amount)} "
                    f"({fee.days_after_expiry} day{'' if fee.days_after_expiry == 1 else 's'} after expiry)"
                    for fee in fees
                ),
            )
            for invoice_id, fees in by_invoice.items()
        ],
    )
    for kind, event in FEE_EVENTS.items():
        payloads = [
            {
                "domain_id": fee.domain_id,
                "client_id": fee.client_id,
                "invoice_id": fee.invoice_id,
                "amount": str(fee.currency.quantize(fee.amount)),  # "5.00", "751" for yen
                "currency": fee.currency.code,
            }
            for fee in added
            if fee.kind == kind
        ]
        if payloads:
            emit_many(event, payloads)
