"""Provisioning's steps of the automation run (see automation.registry)."""

from __future__ import annotations

import datetime
import functools
from collections import defaultdict
from dataclasses import dataclass
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Exists, OuterRef, Q

from automation.models import AutomationSettings
from automation.registry import StepContext, automation_step, in_batches
from billing.cycles import BillingCycle, period_after
from billing.models import Invoice, InvoiceItem
from billing.services import Withdrawal
from billing.services.invoices import InvoiceDraft, InvoiceLine, invoices_create_bulk
from billing.wording import withdrawal_kept_words
from provisioning.models import CancellationRequest, Domain, Service
from provisioning.selectors import overdue_service_lines, service_lines
from provisioning.services import (
    cancellations_carry_out,
    domain_renewal_notices_send,
    domains_expire,
    services_suspend_overdue,
    services_terminate_overdue,
    services_unsuspend_paid,
)

BATCH_SIZE = 2000
# Renewal invoicing works through the clients with something due, this many at a time: a client's services
# and domains are always in one batch, so combined invoicing gives each client one invoice per due date.
CLIENT_BATCH_SIZE = 1000
INVOICED_STATUSES = (Service.Status.ACTIVE, Service.Status.SUSPENDED)
_DOMAIN_CYCLES = {1: BillingCycle.ANNUALLY, 2: BillingCycle.BIENNIALLY, 3: BillingCycle.TRIENNIALLY}
_CYCLE_MONTHS = {cycle.value: cycle.months for cycle in BillingCycle}


def lead_days(settings: AutomationSettings, cycle: str) -> int:
    """How many days before its due date a period of this cycle is invoiced."""
    return int(settings.lead_days_by_cycle.get(cycle, settings.invoice_lead_days))


def _renewal_horizon(settings: AutomationSettings, today: datetime.date) -> datetime.date:
    """The latest due date any cycle invoices on `today`: today plus the longest lead days."""
    return today + datetime.timedelta(
        days=max([settings.invoice_lead_days, *map(int, settings.lead_days_by_cycle.values())])
    )


@dataclass(frozen=True)
class _Billable:
    """A service or a domain, as renewal invoicing sees it."""

    kind: str  # InvoiceItem.Kind.SERVICE or DOMAIN
    id: int
    client_id: int
    next_due_date: datetime.date
    months: int
    cycle: str
    amount: Decimal
    taxed: bool
    label: str
    anchor_day: int  # its billing day: the day its periods start on (see period_after, Service.billing_day)


@functools.lru_cache(maxsize=16384)
def _period(start: datetime.date, months: int, anchor_day: int) -> tuple[datetime.date, str]:
    """The period's last day, and how a line names the period. Cached: a million lines share a few thousand
    (start, length, billing day) triples, and the calendar arithmetic and date formatting were seconds of the
    step."""
    end = period_after(start, months, anchor_day=anchor_day) - datetime.timedelta(days=1)
    return end, f"({start:%Y-%m-%d} - {end:%Y-%m-%d})"


def _periods_due(item: _Billable, invoiced: set[datetime.date], *, today, settings) -> list[datetime.date]:
    """The period starts to invoice now: from the next due date on, each period whose invoicing day (its start
    less the lead days) has come and that has no invoice line yet. Without continuous invoicing only the period
    at the next due date can be billed: the next one waits until it is paid (and the due date moves)."""
    horizon = today + datetime.timedelta(days=lead_days(settings, item.cycle))
    starts, start = [], item.next_due_date
    while start <= horizon:
        if start not in invoiced:
            starts.append(start)
        if not settings.continuous_invoicing:
            break
        start = period_after(start, item.months, anchor_day=item.anchor_day)
    return starts


def _billables(client_ids: list[int], *, horizon: datetime.date) -> list[_Billable]:
    """The batch's services and domains that renew and are due by the horizon, locked (PostgreSQL skips rows
    another run holds: that run bills them). Read as plain values: a model instance per service was most of
    the step's time at a million services."""
    services = (
        Service.objects.select_for_update(skip_locked=True, of=("self",))
        .filter(client_id__in=client_ids, status__in=INVOICED_STATUSES, next_due_date__lte=horizon)
        .filter(recurring_amount__gt=0)
        .exclude(billing_cycle=BillingCycle.ONE_TIME)
        # Being cancelled: no new period is invoiced (an end-of-period cancellation ends it at its due date).
        .exclude(cancellation_requests__status=CancellationRequest.Status.OPEN)
        .order_by("client_id", "next_due_date", "id")
        .values_list(
            "id",
            "client_id",
            "next_due_date",
            "billing_cycle",
            "recurring_amount",
            "product__taxable",
            "product__name",
            "product__group__name",
            "domain",
            "registration_date",
            "billing_day",
        )
    )
    found = [
        _Billable(
            kind=InvoiceItem.Kind.SERVICE,
            id=service_id,
            client_id=client_id,
            next_due_date=next_due_date,
            months=_CYCLE_MONTHS[cycle],
            cycle=cycle,
            amount=amount,
            taxed=taxed,
            label=f"{group} - {product}" + (f" ({domain})" if domain else ""),
            anchor_day=billing_day or registered.day,
        )
        for (
            service_id,
            client_id,
            next_due_date,
            cycle,
            amount,
            taxed,
            product,
            group,
            domain,
            registered,
            billing_day,
        ) in services
    ]
    domains = (
        Domain.objects.select_for_update(skip_locked=True, of=("self",))
        .filter(client_id__in=client_ids, status=Domain.Status.ACTIVE, next_due_date__lte=horizon)
        .filter(recurring_amount__gt=0, registration_period__gte=1, auto_renew=True)
        .order_by("client_id", "next_due_date", "id")
        .values_list(
            "id",
            "client_id",
            "next_due_date",
            "registration_period",
            "recurring_amount",
            "product__taxable",
            "name",
            "registration_date",
            "billing_day",
        )
    )
    for domain_id, client_id, next_due_date, years, amount, taxed, name, registered, billing_day in domains:
        found.append(
            _Billable(
                kind=InvoiceItem.Kind.DOMAIN,
                id=domain_id,
                client_id=client_id,
                next_due_date=next_due_date,
                months=12 * years,
                cycle=_DOMAIN_CYCLES.get(years, BillingCycle.ANNUALLY),
                amount=amount,
                taxed=bool(taxed),
                label=f"Domain renewal - {name} - {years} year{'s' if years > 1 else ''}",
                anchor_day=billing_day or registered.day,
            )
        )
    return found


def _invoiced_periods(client_ids: list[int], billables: list[_Billable]) -> dict[tuple[str, int], set[datetime.date]]:
    """Which period starts already have an invoice line, per (kind, id), from the earliest due date on. The
    services and domains are named through their clients (a few hundred parameters, not one per service)."""
    if not billables:
        return {}
    since = min(item.next_due_date for item in billables)
    services = Service.objects.filter(client_id__in=client_ids).values("id")
    domains = Domain.objects.filter(client_id__in=client_ids).values("id")
    rows = InvoiceItem.objects.filter(
        Q(kind=InvoiceItem.Kind.SERVICE, related_id__in=services)
        | Q(kind=InvoiceItem.Kind.DOMAIN, related_id__in=domains),
        period_start__gte=since,
    ).values_list("kind", "related_id", "period_start")
    invoiced = defaultdict(set)
    for kind, related_id, period_start in rows:
        invoiced[(kind, related_id)].add(period_start)
    return invoiced


def renewal_drafts(client_ids: list[int], *, today: datetime.date, settings: AutomationSettings) -> list[InvoiceDraft]:
    """The renewal invoices due now for these clients: one line per service or domain and period, one invoice
    per client and due date with combined invoicing (else one per line)."""
    billables = _billables(client_ids, horizon=_renewal_horizon(settings, today))
    invoiced = _invoiced_periods(client_ids, billables)
    grouped: dict[tuple[int, datetime.date], list[InvoiceLine]] = defaultdict(list)
    singles: list[InvoiceDraft] = []
    none: set[datetime.date] = set()
    for item in billables:
        for start in _periods_due(item, invoiced.get((item.kind, item.id), none), today=today, settings=settings):
            end, period = _period(start, item.months, item.anchor_day)
            line = InvoiceLine(
                kind=item.kind,
                related_id=item.id,
                amount=item.amount,
                description=f"{item.label} {period}",
                period_start=start,
                period_end=end,
                taxed=item.taxed,
            )
            if settings.combined_invoicing:
                grouped[(item.client_id, start)].append(line)
            else:
                singles.append(InvoiceDraft(client_id=item.client_id, due_date=start, lines=[line]))
    combined = [
        InvoiceDraft(client_id=client_id, due_date=due_date, lines=lines)
        for (client_id, due_date), lines in sorted(grouped.items())
    ]
    return combined + singles


def _invoice_line(invoice, draft: InvoiceDraft) -> str:
    """What the plan says of a renewal invoice: its number, client, due date and total, then its lines."""
    money = invoice.currency.format
    head = f"{invoice.display_number} for client #{invoice.client_id}, due {invoice.due_date}: {money(invoice.total)}"
    return head + "".join(f"\n{line.description}: {money(line.amount)}" for line in draft.lines)


def _clients_with_renewals(*, horizon: datetime.date) -> list[int]:
    services = (
        Service.objects.filter(status__in=INVOICED_STATUSES, next_due_date__lte=horizon, recurring_amount__gt=0)
        .exclude(billing_cycle=BillingCycle.ONE_TIME)
        .order_by()
        .values_list("client_id", flat=True)
    )
    domains = (
        Domain.objects.filter(
            status=Domain.Status.ACTIVE, next_due_date__lte=horizon, recurring_amount__gt=0, auto_renew=True
        )
        .order_by()
        .values_list("client_id", flat=True)
    )
    return sorted(set(services.distinct()) | set(domains.distinct()))


# What carrying out a cancellation did with an open invoice that billed the service's next period.
_WITHDRAWN = {
    Withdrawal.CANCELLED: ("invoices cancelled", "cancelled, it billed only the cancelled period"),
    Withdrawal.LINES_REMOVED: ("invoices with lines removed", "the cancelled period's line removed, totals recomputed"),
    Withdrawal.LEFT_FOR_ADMIN: ("invoices left for an admin", "still bills the cancelled period, left for an admin"),
}


@automation_step(
    "cancellation_requests",
    order=5,
    description="Carry out cancellation requests: immediate ones at once, end-of-period ones on the due date.",
)
def carry_out_cancellations(context: StepContext) -> None:
    due = CancellationRequest.objects.filter(status=CancellationRequest.Status.OPEN).filter(
        Q(when=CancellationRequest.When.IMMEDIATE)
        | Q(when=CancellationRequest.When.END_OF_PERIOD, service__next_due_date__lte=context.today)
    )
    ids = list(due.order_by("id").values_list("id", flat=True))
    for done, batch in enumerate(in_batches(ids, BATCH_SIZE)):
        with transaction.atomic():
            requests = list(
                due.filter(pk__in=batch)
                .select_for_update(skip_locked=True, of=("self", "service"))
                .select_related("service__product")
            )
            carried = cancellations_carry_out(requests=requests, today=context.today)
            ended = set(carried.ended)
            for request in requests:
                service = request.service
                context.count("services cancelled" if service.pk in ended else "requests closed")
                context.say(
                    f"{service} (client #{service.client_id}): "
                    + ("terminated, as requested" if service.pk in ended else "request closed, the service had ended")
                )
            invoices = Invoice.objects.in_bulk(list(carried.invoices)) if carried.invoices else {}
            for invoice_id, withdrawal in carried.invoices.items():
                count, says = _WITHDRAWN[withdrawal.outcome]
                context.count(count)
                invoice = invoices[invoice_id]
                why = f" ({kept})" if (kept := withdrawal_kept_words(withdrawal)) else ""
                context.say(f"{invoice} (client #{invoice.client_id}): {says}{why}")
            for error in carried.errors:
                context.error(error)
        context.progress(min((done + 1) * BATCH_SIZE, len(ids)), len(ids))


@automation_step(
    "renewal_invoicing",
    order=10,
    description="Invoice the services and domains due within the lead days (nothing moves until it is paid).",
)
def invoice_renewals(context: StepContext) -> None:
    settings = AutomationSettings.load()
    client_ids = _clients_with_renewals(horizon=_renewal_horizon(settings, context.today))

    def invoice_batch(batch: list[int]) -> tuple[list[InvoiceDraft], list] | str:
        """The batch's invoices and their drafts, or why it was refused (rolled back, reported below)."""
        try:
            with transaction.atomic():
                drafts = renewal_drafts(batch, today=context.today, settings=settings)
                return drafts, invoices_create_bulk(drafts=drafts, issue_date=context.today, actor=None)
        except ValidationError as refused:
            # A line or a number refused (e.g. a number format that repeats earlier numbers): this batch is rolled
            # back and reported; the other clients are still invoiced.
            return f"Clients {batch[0]}..{batch[-1]}: not invoiced: {'; '.join(refused.messages)}"
        except IntegrityError as clash:
            # Another run billed some of these at the same moment (only possible without PostgreSQL's locks):
            # this batch is rolled back whole, and the next run bills whatever is still due.
            return f"Clients {batch[0]}..{batch[-1]}: a period was invoiced meanwhile ({clash}); retried next run."

    for _batch, outcome in context.each_batch(client_ids, CLIENT_BATCH_SIZE, invoice_batch):
        if isinstance(outcome, str):
            context.error(outcome)
            continue
        drafts, invoices = outcome
        context.count("invoices created", len(invoices))
        context.count("lines", sum(len(draft.lines) for draft in drafts))
        for invoice, draft in zip(invoices, drafts, strict=True):
            context.say(functools.partial(_invoice_line, invoice, draft))


@automation_step(
    "domain_renewal_notices",
    order=85,
    description="Queue renewal notice emails to domain owners before expiry, on the settings' days (once each; after "
    "a missed day the most urgent only).",
)
def send_domain_renewal_notices(context: StepContext) -> None:
    days = sorted({int(d) for d in AutomationSettings.load().domain_renewal_notice_days})
    if not days:
        return
    window = Domain.objects.filter(
        status=Domain.Status.ACTIVE,
        expiry_date__gte=context.today,
        expiry_date__lte=context.today + datetime.timedelta(days=days[-1]),
    )
    ids = list(window.order_by("id").values_list("id", flat=True))
    for done, batch in enumerate(in_batches(ids, BATCH_SIZE)):
        with transaction.atomic():
            outcomes = domain_renewal_notices_send(domain_ids=batch, days=days, today=context.today)
        for outcome in outcomes:
            domain = outcome.domain
            context.count("notices queued", 1 if outcome.sent is not None else 0)
            context.count("notices skipped", len(outcome.skipped))
            if outcome.sent is not None:
                left = (domain.expiry_date - context.today).days
                context.say(
                    f"{domain.name} (client #{domain.client_id}): renewal notice, expires {domain.expiry_date} "
                    f"(in {left} day{'' if left == 1 else 's'})"
                )
        context.progress(min((done + 1) * BATCH_SIZE, len(ids)), len(ids))


# Early in the run (after renewal invoicing, before the fees and reminders): a domain expired today gets its grace
# fee from domain_grace_fees (order 15) in the same run, and the reminders and late fees see the invoice with it.
@automation_step("domain_expiry", order=12, description="Active domains whose expiry date has passed become Expired.")
def expire_domains(context: StepContext) -> None:
    # A domain expiring on the 10th is still the client's on the 10th: it expires on the run of the 11th.
    due = Domain.objects.filter(status=Domain.Status.ACTIVE, expiry_date__lt=context.today)
    ids = list(due.order_by("id").values_list("id", flat=True))

    def expire_batch(batch: list[int]) -> list[int]:
        with transaction.atomic():
            # Checked again under the lock: a renewal paid meanwhile moved the expiry date.
            locked = due.filter(pk__any=batch).select_for_update(skip_locked=True, of=("self",))
            return domains_expire(domain_ids=list(locked.values_list("pk", flat=True)), actor=None)

    for _batch, moved in context.each_batch(ids, BATCH_SIZE, expire_batch):
        context.count("domains expired", len(moved))
        room = context.room()
        told = Domain.objects.filter(pk__in=moved[:room]).order_by("pk") if room else Domain.objects.none()
        for name, client_id, expiry_date in told.values_list("name", "client_id", "expiry_date"):
            context.say(f"{name} (client #{client_id}) expired on {expiry_date}")
        context.untold(max(0, len(moved) - room))


# --- overdue: suspension, unsuspension, termination -------------------------------------------------------------


def _overdue_since(cutoff: datetime.date) -> Exists:
    """The service is billed on an Unpaid invoice due on or before `cutoff`."""
    return Exists(overdue_service_lines(cutoff=cutoff).filter(related_id=OuterRef("pk")))


def _overdue_among(ids: list[int], cutoff: datetime.date) -> set[int]:
    """Which of these services are billed on an Unpaid invoice due on or before `cutoff`.

    Those invoices are locked first, each once: a payment arriving meanwhile waits for the batch, so nothing is
    suspended or terminated on an invoice that was paid before the write (an invoice paid while we waited for
    its lock no longer matches once we hold it). Two batches at once can share an invoice (a client's services
    either side of a batch boundary): the locks are taken in invoice id order, so one waits for the other
    instead of both waiting for each other. The lines are then read without locks of their own: they change only
    under their invoice's lock, which the batch now holds."""
    lines = InvoiceItem.objects.filter(kind=InvoiceItem.Kind.SERVICE, related_id__any=ids)
    invoices = list(
        Invoice.objects.filter(status=Invoice.Status.UNPAID, due_date__lte=cutoff, pk__in=lines.values("invoice_id"))
        .select_for_update()
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    return set(lines.filter(invoice_id__any=invoices).values_list("related_id", flat=True))


def _in_locked_batches(
    context: StepContext, *, base, cutoff: datetime.date, overdue: bool, change, count: str, says: str
) -> None:
    """Run `change(ids)` over the services of `base` that are (or, with overdue=False, are no longer) overdue
    since `cutoff`, a batch at a time: each batch locked (PostgreSQL skips rows another run holds), checked again
    under the lock, and committed on its own. `change` returns the ids it moved: they add to `count`, and each gets
    a plan line "<service> (client #n)<says>" while the kept lines have room."""
    since = _overdue_since(cutoff)
    ids = list(base.filter(since if overdue else ~since).order_by("id").values_list("id", flat=True))

    def batch_change(batch: list[int]) -> list[int]:
        with transaction.atomic():
            locking = base.filter(pk__any=batch).select_for_update(skip_locked=True, of=("self",))
            locked = list(locking.values_list("pk", flat=True))
            late = _overdue_among(locked, cutoff)
            return change([pk for pk in locked if (pk in late) == overdue])

    for _batch, moved in context.each_batch(ids, BATCH_SIZE, batch_change):
        context.count(count, len(moved))
        _say_services(context, moved, says)


def _say_services(context: StepContext, moved: list[int], says: str) -> None:
    room = context.room()
    for label, client_id in service_lines(moved[:room]) if room else []:
        context.say(f"{label} (client #{client_id}){says}")
    context.untold(max(0, len(moved) - room))


def _days(n: int) -> datetime.timedelta:
    return datetime.timedelta(days=n)


@automation_step(
    "overdue_suspension",
    order=40,
    description="Suspend active services on an invoice unpaid for the settings' days after its due date.",
)
def suspend_overdue(context: StepContext) -> None:
    settings = AutomationSettings.load()
    if not settings.suspend_enabled:
        return
    cutoff = context.today - _days(settings.suspend_after_days)

    def change(ids: list[int]) -> list[int]:
        return services_suspend_overdue(service_ids=ids, actor=None)

    base = Service.objects.filter(status=Service.Status.ACTIVE)
    _in_locked_batches(
        context,
        base=base,
        cutoff=cutoff,
        overdue=True,
        change=change,
        count="services suspended",
        says=f" suspended: an invoice due by {cutoff} is unpaid",
    )


@automation_step(
    "overdue_unsuspension",
    order=45,
    description="Lift overdue suspensions whose invoices are settled (never a suspension for another reason).",
)
def unsuspend_paid(context: StepContext) -> None:
    settings = AutomationSettings.load()
    if not settings.unsuspend_on_payment:
        return
    cutoff = context.today - _days(settings.suspend_after_days)

    # Still suspended for being overdue, but no invoice of theirs is overdue that long any more: paid,
    # cancelled, or (after the settings changed) not yet that late.
    def change(ids: list[int]) -> list[int]:
        return services_unsuspend_paid(service_ids=ids, actor=None)

    base = Service.objects.filter(status=Service.Status.SUSPENDED, suspension_reason=Service.SuspensionReason.OVERDUE)
    _in_locked_batches(
        context,
        base=base,
        cutoff=cutoff,
        overdue=False,
        change=change,
        count="services unsuspended",
        says=" unsuspended: nothing overdue any more",
    )


@automation_step(
    "overdue_termination",
    order=50,
    description="Terminate services on an invoice unpaid for the settings' termination days after its due date.",
)
def terminate_overdue(context: StepContext) -> None:
    settings = AutomationSettings.load()
    if not settings.terminate_enabled:
        return
    cutoff = context.today - _days(settings.terminate_after_days)

    def change(ids: list[int]) -> list[int]:
        return services_terminate_overdue(service_ids=ids, on=context.today, actor=None)

    base = Service.objects.filter(status__in=(Service.Status.ACTIVE, Service.Status.SUSPENDED))
    _in_locked_batches(
        context,
        base=base,
        cutoff=cutoff,
        overdue=True,
        change=change,
        count="services terminated",
        says=f" terminated: an invoice due by {cutoff} is unpaid",
    )
