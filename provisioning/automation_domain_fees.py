"""The automation run's grace and redemption fees step: an Expired domain whose current period is billed on an
Unpaid invoice gets its TLD's grace fee, then its redemption fee, on that invoice, each once
(provisioning.services.domain_fees). It runs after domain_expiry, so a domain expired today is charged today,
and before the reminders and late fees, so they see the invoice with its fees."""

from __future__ import annotations

import datetime

from django.core.exceptions import ValidationError
from django.db.models import Exists, OuterRef

from automation.registry import StepContext, automation_step
from billing.models import Invoice, InvoiceItem
from provisioning.models import Domain
from provisioning.services.domain_fees import FEE_WORDS, GRACE, REDEMPTION, domain_fees_apply, longest_window_days

BATCH_SIZE = 2000


def invoices_due_a_domain_fee(*, today: datetime.date) -> list[int]:
    """Unpaid invoices billing the current period of an Expired domain still inside the longest grace and
    redemption window of any TLD, unless the redemption fee (the last one) is on it already. The batch decides
    each domain's window and fees by its own TLD."""
    window = longest_window_days()
    if window == 0:
        return []
    late = Domain.objects.filter(
        pk=OuterRef("related_id"),
        next_due_date=OuterRef("period_start"),
        status=Domain.Status.EXPIRED,
        expiry_date__lt=today,
        expiry_date__gte=today - datetime.timedelta(days=window),
    )
    redeemed = InvoiceItem.objects.filter(
        kind=REDEMPTION, related_id=OuterRef("related_id"), period_start=OuterRef("period_start")
    )
    lines = (
        InvoiceItem.objects.filter(kind=InvoiceItem.Kind.DOMAIN, invoice__status=Invoice.Status.UNPAID)
        .filter(Exists(late))
        .exclude(Exists(redeemed))
    )
    return list(lines.order_by("invoice_id").values_list("invoice_id", flat=True).distinct())


def _days(n: int) -> str:
    return f"{n} day{'' if n == 1 else 's'}"


@automation_step(
    "domain_grace_fees",
    order=15,
    description="Add the TLD's grace fee, then its redemption fee, to the unpaid renewal invoice of each expired "
    "domain (each once; a missed day is caught up).",
)
def add_domain_fees(context: StepContext) -> None:
    ids = invoices_due_a_domain_fee(today=context.today)

    def charge(batch: list[int]) -> list | str:
        try:
            return domain_fees_apply(invoice_ids=batch, today=context.today)
        except ValidationError as refused:  # totals the lines cannot make: the batch is rolled back, reported
            return f"Invoices {batch[0]}..{batch[-1]}: no fee added: {'; '.join(refused.messages)}"

    for _batch, added in context.each_batch(ids, BATCH_SIZE, charge):
        if isinstance(added, str):
            context.error(added)
            continue
        context.count("grace fees added", sum(1 for fee in added if fee.kind == GRACE))
        context.count("redemption fees added", sum(1 for fee in added if fee.kind == REDEMPTION))
        told = added[: context.room()]
        heads = Invoice.objects.only("number", "status").in_bulk([fee.invoice_id for fee in told])
        for fee in told:
            who = f"{heads[fee.invoice_id].display_number} (client #{fee.client_id})"
            context.say(
                f"{who}: {FEE_WORDS[fee.kind].lower()} for {fee.domain}, {fee.currency.format(fee.amount)} "
                f"({_days(fee.days_after_expiry)} after expiry)"
            )
        context.untold(len(added) - len(told))
