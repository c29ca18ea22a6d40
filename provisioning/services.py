"""Writes on services and domains. Functions that take an instance expect it locked by the caller's
transaction (see selectors.lock_order_items); each one records who did it and emits its event."""

from __future__ import annotations

import datetime
import logging
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.core.exceptions import ValidationError
from django.db import DatabaseError, IntegrityError, transaction
from django.db.models import CharField, F, Q, Value
from django.db.models.functions import Cast, Concat
from django.utils import timezone

from billing.cycles import add_months, billing_day_after_move
from billing.models import AutomationSettings, Client, Currency, Invoice, InvoiceItem
from billing.selectors import invoices_lock
from billing.services import WithdrawalOutcome, invoice_lines_withdraw
from core.fsm import apply_transition, transition_in_bulk
from core.inputs import text_validate
from core.rows import insert_rows
from notifications.bus import emit, emit_many, emit_select
from notifications.services import (
    Actor,
    EmailToQueue,
    Subject,
    activity_record,
    activity_record_many,
    activity_record_select,
    actor_label,
    email_queue,
    email_queue_many,
)
from provisioning.models import CancellationRequest, Domain, DomainRenewalNotice, Service
from provisioning.selectors import open_service_lines, overdue_service_lines, service_label

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ServiceSpec:
    """What was bought, copied from the catalog at checkout."""

    product_id: int
    billing_cycle: str
    recurring_amount: Decimal
    first_payment_amount: Decimal
    module: str
    auto_setup: str
    module_settings: dict[str, Any] = field(default_factory=dict)
    domain: str = ""


@dataclass(frozen=True)
class DomainSpec:
    product_id: int | None
    name: str
    registration_type: str
    registration_period: int
    recurring_amount: Decimal
    first_payment_amount: Decimal


def service_create(
    *, client: Client, currency: Currency, order_id: int | None, spec: ServiceSpec, registration_date: datetime.date
) -> Service:
    service = Service(
        client=client,
        order_id=order_id,
        product_id=spec.product_id,
        currency=currency,
        billing_cycle=spec.billing_cycle,
        recurring_amount=spec.recurring_amount,
        first_payment_amount=spec.first_payment_amount,
        module=spec.module,
        module_settings=spec.module_settings,
        auto_setup=spec.auto_setup,
        domain=spec.domain,
        registration_date=registration_date,
        next_due_date=registration_date,
    )
    service.save()
    return service


def domain_create(
    *, client: Client, currency: Currency, order_id: int | None, spec: DomainSpec, registration_date: datetime.date
) -> Domain:
    domain = Domain(
        client=client,
        order_id=order_id,
        product_id=spec.product_id,
        currency=currency,
        name=spec.name,
        registration_type=spec.registration_type,
        registration_period=spec.registration_period,
        recurring_amount=spec.recurring_amount,
        first_payment_amount=spec.first_payment_amount,
        registration_date=registration_date,
        next_due_date=registration_date,
    )
    _save_domain(domain)
    return domain


def _save_domain(domain: Domain, **kwargs: Any) -> None:
    """Save, turning the one-live-row-per-name constraint into a message an admin or client can act on."""
    try:
        with transaction.atomic():
            domain.save(**kwargs)
    except IntegrityError as exc:
        taken = Domain.objects.filter(name=domain.name, status__in=Domain.LIVE_STATUSES).exclude(pk=domain.pk)
        if not taken.exists():
            raise
        raise ValidationError(f"{domain.name} is already ordered or registered here.") from exc


def _log(actor: Actor, action: str, obj: Service | Domain, message: str) -> None:
    activity_record(actor=actor, action=action, subject=obj, client_id=obj.client_id, message=message)


def service_activate(*, service: Service, run_module_create: bool, send_welcome_email: bool, actor: Actor) -> str:
    """Pending → Active. Returns what happened, for the admin's message and the log.

    Provisioning modules arrive in a later issue: today no module runs, and the log says so plainly.
    """
    # The next due date stays on the first, unpaid period: payment advances it (billing issue), not acceptance.
    apply_transition(service.activate, label="activated")
    today = timezone.localdate()
    service.save(update_fields=["status"])
    if run_module_create:
        outcome = "module create requested, but no provisioning module is available yet: no module ran"
    else:
        outcome = "activated without running the module (not requested)"
    if send_welcome_email:
        _email, queued = email_queue(
            template="service_welcome",
            to_address=service.client.email,
            client_id=service.client_id,
            idempotency_key=f"service_welcome:{service.pk}",
            context={"service_id": service.pk, "product": service.product.name, "domain": service.domain},
        )
        outcome += (
            "; welcome email queued" if queued else "; welcome email not queued again (queued on an earlier accept)"
        )
    _log(actor, "service_activated", service, f"{service} activated on {today}: {outcome}")
    emit("ServiceActivated", service_id=service.pk, client_id=service.client_id, module_ran=False)
    return outcome


def service_cancel(*, service: Service, as_fraud: bool, actor: Actor, reason: str = "") -> str | None:
    """Withdraw a service because its order was cancelled or found fraudulent.

    A live account (Active or Suspended) is terminated; a Pending one becomes Cancelled or Fraud; one already
    closed is left alone. Returns what happened, or None when nothing changed.
    """
    suffix = f": {reason}" if reason else ""
    if service.status in (Service.Status.ACTIVE, Service.Status.SUSPENDED):
        service.terminate(on=timezone.localdate())
        service.save(update_fields=["status", "termination_date", "suspension_reason"])
        _log(actor, "service_terminated", service, f"{service} terminated{suffix}")
        emit("ServiceTerminated", service_id=service.pk, client_id=service.client_id)
        return "terminated"
    if service.status == Service.Status.PENDING:
        if as_fraud:
            service.mark_fraud()
        else:
            service.cancel()
        service.save(update_fields=["status"])
        word = "fraud" if as_fraud else "cancelled"
        _log(actor, f"service_{word}", service, f"{service} marked {word}{suffix}")
        emit("ServiceFraud" if as_fraud else "ServiceCancelled", service_id=service.pk, client_id=service.client_id)
        return word
    return None


def service_set_pending(*, service: Service, actor: Actor) -> bool:
    if service.status not in (Service.Status.CANCELLED, Service.Status.FRAUD, Service.Status.TERMINATED):
        return False
    service.set_pending()
    service.save(update_fields=["status", "termination_date"])
    _log(actor, "service_pending", service, f"{service} set back to pending")
    emit("ServicePending", service_id=service.pk, client_id=service.client_id)
    return True


def domain_activate(*, domain: Domain, send_to_registrar: bool, actor: Actor) -> str:
    """Accept a pending domain. Sent to the registrar, it waits in Pending Registration / Transfer until the
    registrar confirms (registrar modules arrive later: none runs yet, and the log says so). Not sent, the admin
    handles it by hand and the domain is Active from today for its registration period."""
    if send_to_registrar:
        if domain.registration_type == Domain.RegistrationType.TRANSFER:
            apply_transition(domain.request_transfer, label="sent for transfer")
        else:
            apply_transition(domain.request_registration, label="sent for registration")
        domain.save(update_fields=["status"])
        outcome = f"{domain.get_status_display()}: no registrar module is available yet, so no registrar ran"
        _log(actor, "domain_sent_to_registrar", domain, f"Domain {domain} {outcome}")
        emit(
            "DomainSentToRegistrar",
            domain_id=domain.pk,
            client_id=domain.client_id,
            registration_type=domain.registration_type,
            registrar_ran=False,
        )
        return outcome
    today = timezone.localdate()
    apply_transition(domain.activate, label="activated", expiry_date=add_months(today, 12 * domain.registration_period))
    domain.save(update_fields=["status", "expiry_date"])
    outcome = f"activated by hand without a registrar, expiring {domain.expiry_date}"
    _log(actor, "domain_activated", domain, f"Domain {domain} {outcome}")
    emit("DomainActivated", domain_id=domain.pk, client_id=domain.client_id, registrar_ran=False)
    return outcome


def domain_cancel(*, domain: Domain, as_fraud: bool, actor: Actor, reason: str = "") -> str | None:
    suffix = f": {reason}" if reason else ""
    if as_fraud and domain.status in Domain.BEFORE_ACTIVE:
        domain.mark_fraud()
        word = "fraud"
    elif domain.status in (*Domain.BEFORE_ACTIVE, Domain.Status.ACTIVE):
        domain.cancel()
        word = "cancelled"
    else:
        return None
    domain.save(update_fields=["status"])
    _log(actor, f"domain_{word}", domain, f"Domain {domain} marked {word}{suffix}")
    emit("DomainFraud" if word == "fraud" else "DomainCancelled", domain_id=domain.pk, client_id=domain.client_id)
    return word


def domain_set_pending(*, domain: Domain, actor: Actor) -> bool:
    if domain.status not in (Domain.Status.CANCELLED, Domain.Status.FRAUD):
        return False
    domain.set_pending()
    _save_domain(domain, update_fields=["status"])
    _log(actor, "domain_pending", domain, f"Domain {domain} set back to pending")
    emit("DomainPending", domain_id=domain.pk, client_id=domain.client_id)
    return True


def domains_expire(*, domain_ids: list[int], actor: Actor) -> list[int]:
    """These (locked) domains, active with their expiry date passed, become Expired: the FSM transition applied to
    the batch (core.fsm.transition_in_bulk), then an activity entry and a DomainExpired event per domain made
    by the database, so the queries do not grow with the domains. Returns the ids moved (one no longer active is
    left alone)."""
    moved = transition_in_bulk(Domain.objects.filter(pk__any=domain_ids), "expire")
    if moved:
        rows = Domain.objects.filter(pk__any=moved)
        expiry = Cast("expiry_date", CharField())  # ISO, as emit() stores a date
        activity_record_select(
            actor=actor,
            action="domain_expired",
            subject_type=Domain._meta.label_lower,
            queryset=rows,
            subject_id=F("pk"),
            client_id=F("client_id"),
            message=Concat(Value("Domain "), F("name"), Value(" expired on "), expiry),
        )
        emit_select("DomainExpired", rows, {"domain_id": F("pk"), "client_id": F("client_id"), "expiry_date": expiry})
    return moved


# --- an admin edits the billing dates -----------------------------------------------------------------------------

_UNSET: Any = object()


def billing_dates_set(
    model: type[Service] | type[Domain],
    *,
    pk: int,
    actor: Actor,
    registration_date: datetime.date = _UNSET,
    next_due_date: datetime.date | None = _UNSET,
    due_date_seen: datetime.date | None = _UNSET,
) -> list[str]:
    """An admin sets the registration date or the next due date of a service or domain (the admin's pages call
    this for those two fields). Returns what changed, as logged.

    - The billing day (the day of the month its periods start on, see billing.cycles.period_after) stays where
      it was when the registration date changes: correcting the record does not move the client's billing.
    - It follows a moved due date (billing.cycles.billing_day_after_move), so the periods invoiced after it
      start on that day, clamped to short months, and come back to it after a short month.
    - `due_date_seen` is the due date the admin's page showed: if a payment or another admin moved it since,
      the move is refused (ValidationError) rather than put the due date back over a paid period.

    Invoices already made are left as they are (see docs/DECISIONS.md). Each change is in the activity log."""
    kind = "service" if model is Service else "domain"
    said: list[tuple[str, str]] = []  # (action, message)
    with transaction.atomic():
        item = model.objects.select_for_update().get(pk=pk)
        anchor = item.billing_day or item.registration_date.day
        if registration_date is not _UNSET and registration_date != item.registration_date:
            said.append(
                (
                    f"{kind}_registration_date_changed",
                    f"Registration date of {item} changed from {item.registration_date} to {registration_date}; "
                    f"still billed on day {anchor} of the month",
                )
            )
            item.registration_date = registration_date
        if next_due_date is not _UNSET and next_due_date != item.next_due_date:
            if due_date_seen is not _UNSET and due_date_seen != item.next_due_date:
                raise ValidationError(
                    f"The next due date of {item} was changed to {item.next_due_date or 'none'} while the page was "
                    f"open (a payment, or another admin): reload the page and check it before moving it."
                )
            if next_due_date is not None:
                anchor = billing_day_after_move(anchor, next_due_date)
            said.append(
                (
                    f"{kind}_due_date_moved",
                    f"Next due date of {item} moved from {item.next_due_date or 'none'} to {next_due_date or 'none'}"
                    + (f"; billed on day {anchor} of the month" if next_due_date else ""),
                )
            )
            item.next_due_date = next_due_date
        if not said:
            return []
        item.billing_day = None if anchor == item.registration_date.day else anchor
        item.save(update_fields=["registration_date", "next_due_date", "billing_day"])
        for action, message in said:
            _log(actor, action, item, message)
    return [message for _action, message in said]


# --- the automation run's overdue steps: many services at a time -------------------------------------------------
# Each status change is the service's FSM transition, applied to the batch by core.fsm.transition_in_bulk (the
# transition decides the sources and what it sets; one guarded UPDATE per source status). The activity rows and
# the events are made by the database from the moved rows, one INSERT ... SELECT each: nothing per service passes
# through Python. The module calls (suspend/unsuspend/terminate the account on its server) come with the
# provisioning modules; until then the status, the reason and the events change, as the issue says.


def _move_many(
    ids: list[int],
    transition: str,
    arguments: dict,
    *,
    action: str,
    event: str,
    says: str,
    actor: Actor,
    reason: str = Service.SuspensionReason.OVERDUE,
) -> list[int]:
    """Apply `transition(**arguments)` to these (locked) services; each one moved gets an activity entry
    "<service><says>" and the event `event` (its payload's reason is `reason`). Returns the ids moved."""
    moved = transition_in_bulk(Service.objects.filter(pk__any=ids), transition, **arguments)
    if moved:
        rows = Service.objects.filter(pk__any=moved)
        activity_record_select(
            actor=actor,
            action=action,
            subject_type=Service._meta.label_lower,
            queryset=rows,
            subject_id=F("pk"),
            client_id=F("client_id"),
            message=Concat(service_label(), Value(says)),
        )
        emit_select(event, rows, {"service_id": F("pk"), "client_id": F("client_id"), "reason": Value(reason)})
    return moved


def services_suspend_overdue(*, service_ids: list[int], actor: Actor) -> list[int]:
    """Active services on an invoice overdue beyond the settings' days: Suspended, reason overdue."""
    return _move_many(
        service_ids,
        "suspend",
        {"reason": Service.SuspensionReason.OVERDUE},
        action="service_suspended",
        event="ServiceSuspended",
        says=" suspended: overdue on payment",
        actor=actor,
    )


def services_unsuspend_paid(*, service_ids: list[int], actor: Actor) -> list[int]:
    """Services suspended for being overdue whose overdue invoices are settled: Active again. A suspension for
    any other reason (abuse, an admin's) is never lifted by a payment."""
    overdue_suspended = Service.objects.filter(
        pk__any=service_ids, suspension_reason=Service.SuspensionReason.OVERDUE
    ).values_list("pk", flat=True)
    return _move_many(
        list(overdue_suspended),
        "unsuspend",
        {},
        action="service_unsuspended",
        event="ServiceUnsuspended",
        says=" unsuspended: the overdue invoice is settled",
        actor=actor,
    )


def services_unsuspend_after_payment(*, invoice_id: int, today: datetime.date | None = None) -> list[int]:
    """The InvoicePaid reaction: the invoice's services suspended for being overdue are lifted, unless another
    of their invoices is still overdue beyond the suspension days. Returns the ids lifted."""
    settings = AutomationSettings.load()
    if not settings.unsuspend_on_payment:
        return []
    cutoff = (today or timezone.localdate()) - datetime.timedelta(days=settings.suspend_after_days)
    billed = InvoiceItem.objects.filter(invoice_id=invoice_id, kind=InvoiceItem.Kind.SERVICE).values("related_id")
    still_overdue = overdue_service_lines(cutoff=cutoff).values("related_id")
    with transaction.atomic():
        ids = list(
            Service.objects.select_for_update()
            .filter(pk__in=billed, status=Service.Status.SUSPENDED, suspension_reason=Service.SuspensionReason.OVERDUE)
            .exclude(pk__in=still_overdue)
            .values_list("pk", flat=True)
        )
        return services_unsuspend_paid(service_ids=ids, actor=None)


def services_terminate_overdue(*, service_ids: list[int], on: datetime.date, actor: Actor) -> list[int]:
    """Active or suspended services on an invoice overdue beyond the termination days: Terminated."""
    return _move_many(
        service_ids,
        "terminate",
        {"on": on},
        action="service_terminated",
        event="ServiceTerminated",
        says=f" terminated on {on}: overdue on payment",
        actor=actor,
    )


# --- cancellation requests ---------------------------------------------------------------------------------------


CANCELLATION_REASON_MAX = 2000


def cancellation_refusal(service: Service) -> str | None:
    """Why this service cannot be asked to end now, or None."""
    if service.status not in (Service.Status.ACTIVE, Service.Status.SUSPENDED):
        return f"{service} is {service.get_status_display()}: only a live service can be cancelled."
    if service.cancellation_requests.filter(status=CancellationRequest.Status.OPEN).exists():
        return f"{service} already has an open cancellation request."
    return None


def cancellation_request(*, service_id: int, when: str, reason: str, actor: Actor) -> CancellationRequest:
    """Ask for a live service to end, at once or at the end of its paid period; the automation run carries it
    out. Refused for a service that is not live or already has an open request."""
    if when not in CancellationRequest.When.values:
        raise ValidationError(f"When to cancel must be one of: {', '.join(CancellationRequest.When.values)}.")
    if len(reason.strip()) > CANCELLATION_REASON_MAX:
        raise ValidationError(f"The reason is too long: {CANCELLATION_REASON_MAX} characters at most.")
    text_validate(reason, multiline=True, what="The reason")  # PostgreSQL refuses NUL; the rest reach the admin
    with transaction.atomic():
        service = Service.objects.select_for_update().select_related("product").get(pk=service_id)
        refusal = cancellation_refusal(service)
        if refusal:
            raise ValidationError(refusal)
        try:  # the unique open request decides between two requests at once
            with transaction.atomic():
                request = CancellationRequest.objects.create(
                    service=service, when=when, reason=reason.strip(), requested_by=actor_label(actor)
                )
        except IntegrityError:
            raise ValidationError(f"{service} already has an open cancellation request.") from None
        timing = "at once" if when == CancellationRequest.When.IMMEDIATE else f"on {service.next_due_date}"
        _log(actor, "cancellation_requested", service, f"Cancellation of {service} requested ({timing})")
        emit(
            "CancellationRequest", service_id=service.pk, client_id=service.client_id, when=when, request_id=request.pk
        )
    return request


@dataclass(frozen=True)
class CancellationsDone:
    ended: list[int]  # the services terminated
    invoices: dict[int, WithdrawalOutcome]  # invoice id -> what became of its lines for periods after the end
    errors: list[str]  # invoices whose lines could not be withdrawn (the rest of the batch went ahead)


def cancellation_end(request: CancellationRequest, *, today: datetime.date) -> datetime.date:
    """The first day a cancelled service is no longer billed for: the day it was asked for an immediate request,
    the due date for an end-of-period one, but never before the day of asking (a period that had started when
    the client asked stays billed). The day of asking is never later than the run's date."""
    asked = min(timezone.localdate(request.requested_at), today)
    if request.when == CancellationRequest.When.IMMEDIATE:
        return asked
    return max(request.service.next_due_date, asked)


def cancellations_carry_out(*, requests: list[CancellationRequest], today: datetime.date) -> CancellationsDone:
    """End the services of these open requests (their rows and services locked by the caller): live ones are
    terminated; the requests are closed either way. The lines of open invoices that bill a terminated service
    for a period starting on or after its `cancellation_end` are withdrawn (billing's invoice_lines_withdraw),
    so a client is not reminded of, or charged late fees on, a period they cancelled. Each invoice is handled in
    a savepoint: one that fails is reported and the others, and the terminations, go ahead."""
    for request in requests:
        request.status, request.done_on = CancellationRequest.Status.DONE, today
    CancellationRequest.objects.bulk_update(requests, ["status", "done_on"])
    ended = _move_many(
        [request.service_id for request in requests],
        "terminate",
        {"on": today},
        reason="cancellation requested",
        action="service_terminated",
        event="ServiceTerminated",
        says=f" terminated on {today}: cancellation requested",
        actor=None,
    )
    terminated = set(ended)
    ends = {r.service_id: cancellation_end(r, today=today) for r in requests if r.service_id in terminated}
    by_invoice: dict[int, list[int]] = {}
    lines = open_service_lines(service_ids=list(ends)).order_by("invoice_id", "pk")
    for line_id, invoice_id, service_id, period_start in lines.values_list(
        "pk", "invoice", "related_id", "period_start"
    ):
        if period_start is not None and period_start >= ends[service_id]:
            by_invoice.setdefault(invoice_id, []).append(line_id)
    invoices_lock(list(by_invoice))
    done, errors = {}, []
    for invoice_id, line_ids in by_invoice.items():
        try:
            with transaction.atomic():
                done[invoice_id] = invoice_lines_withdraw(
                    invoice_id=invoice_id,
                    line_ids=line_ids,
                    actor=None,
                    reason="the service was cancelled before the period",
                )
        except (ValidationError, DatabaseError) as failed:
            logger.exception("Withdrawing the cancelled lines of invoice #%s failed", invoice_id)
            errors.append(f"Invoice #{invoice_id}: the cancelled period's lines were not withdrawn: {failed}")
    return CancellationsDone(ended=ended, invoices=done, errors=errors)


# --- domain renewal notices --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RenewalNoticeOutcome:
    domain: Domain
    sent: int | None  # the days-before of the notice sent, if one was
    skipped: list[int]


def domain_renewal_notices_send(
    *, domain_ids: list[int], days: list[int], today: datetime.date
) -> list[RenewalNoticeOutcome]:
    """Send the renewal notices these active domains have reached (`today` is at least `days` before their
    expiry date), once per (domain, expiry date, days). When several are reached at once only the most urgent
    is sent; the others are recorded as skipped, as is any notice less urgent than one already sent. Locks the
    domains (PostgreSQL skips those another run holds) in the caller's transaction."""
    domains = list(
        Domain.objects.select_for_update(skip_locked=True, of=("self",))
        .filter(pk__in=domain_ids, status=Domain.Status.ACTIVE, expiry_date__gte=today)
        .select_related("client")
        .order_by("id")
    )
    handled = set(
        DomainRenewalNotice.objects.filter(domain__in=domains).values_list("domain_id", "expiry_date", "days_before")
    )
    outcomes, rows = [], []
    for domain in domains:
        reached = sorted(d for d in days if today >= domain.expiry_date - datetime.timedelta(days=d))
        if not reached:
            continue
        most_urgent = reached[0]
        fresh = [d for d in reached if (domain.pk, domain.expiry_date, d) not in handled]
        if not fresh:
            continue
        sent = most_urgent if most_urgent in fresh else None
        skipped = [d for d in fresh if d != sent]
        outcomes.append(RenewalNoticeOutcome(domain=domain, sent=sent, skipped=skipped))
        rows += [
            {
                "domain_id": domain.pk,
                "expiry_date": domain.expiry_date,
                "days_before": d,
                "sent_on": today,
                "skipped": d != sent,
            }
            for d in fresh
        ]
    insert_rows(DomainRenewalNotice, rows)
    sent = [outcome for outcome in outcomes if outcome.sent is not None]
    email_queue_many(
        [
            EmailToQueue(
                template="domain_renewal_notice",
                to_address=o.domain.client.email,
                idempotency_key=f"domain_renewal:{o.domain.pk}:{o.domain.expiry_date}:{o.sent}",
                context={
                    "domain": o.domain.name,
                    "expiry_date": o.domain.expiry_date.isoformat(),
                    "days_before": o.sent,
                },
                client_id=o.domain.client_id,
            )
            for o in sent
        ]
    )
    activity_record_many(
        actor=None,
        action="domain_renewal_notice",
        entries=[
            (
                o.domain,
                o.domain.client_id,
                f"Renewal notice for {o.domain} queued: it expires on {o.domain.expiry_date}",
            )
            for o in sent
        ],
    )
    emit_many(
        "DomainRenewalNotice",
        [
            {
                "domain_id": o.domain.pk,
                "client_id": o.domain.client_id,
                "expiry_date": o.domain.expiry_date,
                "days_before": o.sent,
            }
            for o in sent
        ],
    )
    return outcomes


def order_items_delete(*, order_id: int) -> None:
    """Remove an order's services and domains. The caller holds their locks and has checked none is live."""
    Service.objects.filter(order_id=order_id).delete()
    Domain.objects.filter(order_id=order_id).delete()


def items_paid_through(*, invoice_id: int, today: datetime.date | None = None) -> int:
    """The invoice was paid: each service and domain it billed for a period is now due again the day after that
    period, and a registered domain (Active or Expired) expires on that day too: the expiry follows the paid
    registration period. An Expired domain whose new expiry has not passed is Active again (`renew`). Dates only
    ever move forward, so handling the payment twice changes nothing. Queries grow with the invoice's distinct
    period ends, not with its lines. Returns how many items' due dates moved."""
    lines = InvoiceItem.objects.filter(
        invoice_id=invoice_id,
        kind__in=(InvoiceItem.Kind.SERVICE, InvoiceItem.Kind.DOMAIN),
        related_id__isnull=False,
        period_end__isnull=False,
    ).values_list("kind", "related_id", "period_end")
    paid_until: dict[tuple[str, datetime.date], list[int]] = {}
    for kind, related_id, period_end in lines:
        paid_until.setdefault((kind, period_end + datetime.timedelta(days=1)), []).append(related_id)
    moved = 0
    with transaction.atomic():
        for (kind, until), ids in sorted(paid_until.items()):
            model = Service if kind == InvoiceItem.Kind.SERVICE else Domain
            # Not a status: a plain set-based update of a date, guarded so it never moves backwards.
            moved += (
                model.objects.filter(pk__any=ids)
                .filter(Q(next_due_date__isnull=True) | Q(next_due_date__lt=until))
                .update(next_due_date=until)
            )
        domains = {until: ids for (kind, until), ids in paid_until.items() if kind == InvoiceItem.Kind.DOMAIN}
        if domains:
            _domains_renewed(invoice_id=invoice_id, paid_until=domains, today=today or timezone.localdate())
    return moved


def _domains_renewed(*, invoice_id: int, paid_until: dict[datetime.date, list[int]], today: datetime.date) -> None:
    """The expiry half of items_paid_through: registered domains (Active or Expired) whose expiry is before the
    end of the paid period expire then instead, in one locked read, one UPDATE per distinct date (the `renew`
    transition for the expired ones whose new expiry has not passed), one insert of activity entries and one of
    DomainRenewed events. Pending domains are left alone: their expiry comes with their registration."""
    until_of: dict[int, datetime.date] = {}
    for until, ids in paid_until.items():
        for pk in ids:  # two periods of one domain on one invoice: it expires after the later one
            until_of[pk] = max(until, until_of.get(pk, until))
    registered = (Domain.Status.ACTIVE, Domain.Status.EXPIRED)
    rows = list(
        Domain.objects.select_for_update(of=("self",))
        .filter(pk__any=list(until_of), status__in=registered)
        .order_by("pk")
        .values_list("pk", "name", "client_id", "expiry_date")
    )
    behind = [row for row in rows if row[3] is None or row[3] < until_of[row[0]]]
    if not behind:
        return
    invoice = Invoice.objects.only("number").get(pk=invoice_id)
    renewed: set[int] = set()
    for until in sorted({until_of[row[0]] for row in behind}):
        ids = [row[0] for row in behind if until_of[row[0]] == until]
        still_active = Domain.objects.filter(pk__any=ids, status=Domain.Status.ACTIVE)
        still_active.update(expiry_date=until)
        expired = Domain.objects.filter(pk__any=ids, status=Domain.Status.EXPIRED)
        if until >= today:
            renewed.update(transition_in_bulk(expired, "renew", expiry_date=until))
        else:  # the paid period is over already: the date moves, the domain stays Expired
            expired.update(expiry_date=until)
    entries, events = [], []
    for pk, name, client_id, expiry_date in behind:
        until, before = until_of[pk], expiry_date or "none"
        says = f"Expiry date of {name} moved from {before} to {until}: renewal paid ({invoice})"
        if pk in renewed:
            says += "; it was Expired and is Active again"
        entries.append((Subject(Domain._meta.label_lower, pk), client_id, says + "; no registrar ran"))
        events.append(
            {
                "domain_id": pk,
                "client_id": client_id,
                "invoice_id": invoice_id,
                "expiry_date": until,
                "previous_expiry_date": expiry_date,
                "reactivated": pk in renewed,
            }
        )
    activity_record_many(actor=None, action="domain_renewed", entries=entries)
    emit_many("DomainRenewed", events)
