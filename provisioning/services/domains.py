"""Domains: made at checkout, activated or sent to the registrar on accept, cancelled, expired, and reminded of
their renewal. Functions that take an instance expect it locked by the caller's transaction."""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import CharField, F, Value
from django.db.models.functions import Cast, Concat
from django.utils import timezone

from billing.cycles import add_months
from billing.models import Client, Currency, InvoiceItem
from core import crypto
from core.fsm import apply_transition, transition_in_bulk
from core.rows import insert_rows
from notifications.bus import emit, emit_many, emit_select
from notifications.services import (
    Actor,
    EmailToQueue,
    activity_record_many,
    activity_record_select,
    email_queue_many,
)
from provisioning.domain_selectors import tlds_for_names
from provisioning.models import Domain, DomainRenewalNotice, Tld
from provisioning.outcomes import DomainActivated, ItemMove
from provisioning.queue.requests import registrar_call_request, registrar_offers, registration_key
from provisioning.registrars.base import RegistrarAction
from provisioning.services.common import item_log
from provisioning.wording import domain_activated_words


@dataclass(frozen=True)
class DomainSpec:
    product_id: int | None
    name: str
    registration_type: str
    registration_period: int
    recurring_amount: Decimal
    first_payment_amount: Decimal
    registrar: str = ""  # the TLD's registrar, when the TLD has settings
    availability_at_checkout: str = Domain.CheckoutAvailability.NOT_CHECKED
    auto_renew: bool = True  # the TLD's default for new domains
    epp_code: str = ""  # a transfer in's authorization code, as the client gave it (stored encrypted)


# RFC 5731 leaves an authInfo password's length to the registry (they ask 6-32 characters, some up to 64); a longer
# one is surely pasted by mistake. It is an XML token: no line breaks, tabs or control characters.
EPP_CODE_MAX = 128


def epp_code_clean(raw: object, *, name: str) -> str:
    """The EPP code a client typed for a transfer of `name`, stripped; refused (ValidationError) when empty, too
    long or holding a character a registry cannot take."""
    code = raw.strip() if isinstance(raw, str) else ""
    if not code:
        raise ValidationError(f"Enter the EPP code of {name}: its current registrar gives it to the owner.")
    if len(code) > EPP_CODE_MAX:
        raise ValidationError(f"The EPP code of {name} is longer than {EPP_CODE_MAX} characters: check it.")
    if any(not character.isprintable() for character in code):
        raise ValidationError(f"The EPP code of {name} holds a line break or a control character: check it.")
    return code


def domain_epp_code_reveal(*, domain_id: int, actor: Actor) -> str:
    """The EPP code a client gave for a transfer in, for an admin allowed to see it (the caller checks the
    permission) who transfers it by hand; each reveal is in the activity log with who asked."""
    domain = Domain.objects.filter(pk=domain_id).first()
    if domain is None:
        raise ValidationError("That domain no longer exists.")
    waiting = (Domain.Status.PENDING, Domain.Status.PENDING_TRANSFER)
    if domain.registration_type != Domain.RegistrationType.TRANSFER or domain.status not in waiting:
        raise ValidationError(f"{domain} is {domain.get_status_display()}: no transfer in waits for its EPP code.")
    try:
        code = crypto.decrypt(domain.epp_code_token)
    except crypto.SecretUnreadable:
        raise ValidationError("The stored EPP code cannot be read with the current keys.") from None
    if not code:
        raise ValidationError(f"No EPP code is kept for {domain}.")
    item_log(actor, "domain_epp_code_revealed", domain, f"Revealed the EPP code given for the transfer of {domain}.")
    return code


def domain_create(
    *,
    client: Client,
    currency: Currency,
    order_id: int | None,
    spec: DomainSpec,
    registration_date: datetime.date,
    next_due_date: datetime.date | None = None,
) -> Domain:
    """A Pending domain, first due on its registration date unless `next_due_date` says otherwise (an order placed
    without an invoice starts after its first period: docs/DECISIONS.md)."""
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
        registrar=spec.registrar,
        availability_at_checkout=spec.availability_at_checkout,
        auto_renew=spec.auto_renew,
        epp_code_token=crypto.encrypt(spec.epp_code),
        registration_date=registration_date,
        next_due_date=next_due_date or registration_date,
    )
    domain_save(domain)
    return domain


def domain_save(domain: Domain, **kwargs: Any) -> None:
    """Save, turning the one-live-row-per-name constraint into a message an admin or client can act on."""
    try:
        with transaction.atomic():
            domain.save(**kwargs)
    except IntegrityError as exc:
        taken = Domain.objects.filter(name=domain.name, status__in=Domain.LIVE_STATUSES).exclude(pk=domain.pk)
        if not taken.exists():
            raise
        raise ValidationError(f"{domain.name} is already ordered or registered here.") from exc


def domain_activate(
    *, domain: Domain, send_to_registrar: bool, actor: Actor, registrar: str | None = None
) -> DomainActivated:
    """Accept a pending domain. Sent to the registrar (`registrar` chosen on the accept form, else the domain's
    own), it waits in Pending Registration / Transfer with a register or transfer call in the module queue, until
    the registrar confirms it and its expiry date. With no registrar named it waits there for an admin, and the
    log says so. Not sent, the admin handles it by hand and the domain is Active from today for its registration
    period. A registrar that is not installed, or cannot register, is refused (ValidationError) before anything
    is written."""
    if send_to_registrar:
        is_transfer = domain.registration_type == Domain.RegistrationType.TRANSFER
        action = RegistrarAction.TRANSFER if is_transfer else RegistrarAction.REGISTER
        if registrar is not None and registrar != domain.registrar:
            domain.registrar = registrar
        if domain.registrar:
            registrar_offers(domain, domain.registrar, action)  # refused before anything is written
        if is_transfer:
            apply_transition(domain.request_transfer, label="sent for transfer")
        else:
            apply_transition(domain.request_registration, label="sent for registration")
        domain.save(update_fields=["status", "registrar"])
        call_id = None
        if domain.registrar:
            requested = registrar_call_request(
                domain=domain, action=action, actor=actor, key=registration_key(domain, action)
            )
            call_id = requested.call.pk
        outcome = DomainActivated(
            sent_to_registrar=True,
            status=domain.status,
            expiry_date=domain.expiry_date,
            registrar=domain.registrar,
            call_id=call_id,
        )
        item_log(actor, "domain_sent_to_registrar", domain, f"Domain {domain} {domain_activated_words(outcome)}")
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
    domain.epp_code_token = ""  # transferred by hand: the code has done its work
    domain.save(update_fields=["status", "expiry_date", "epp_code_token"])
    outcome = DomainActivated(sent_to_registrar=False, status=domain.status, expiry_date=domain.expiry_date)
    item_log(actor, "domain_activated", domain, f"Domain {domain} {domain_activated_words(outcome)}")
    emit("DomainActivated", domain_id=domain.pk, client_id=domain.client_id, registrar_ran=False)
    return outcome


def domains_register_on_payment(*, invoice_id: int) -> list[DomainActivated]:
    """The InvoicePaid reaction for domains: those the paid invoice billed that are still Pending and whose TLD
    says "register when the first payment is received" are sent to their registrar now (a register or transfer
    call in the module queue, once per round), without waiting for the order's accept. The order stays Pending for
    the admin; a domain whose TLD says "on accept" or "by hand" is left to the admin."""
    billed = InvoiceItem.objects.filter(
        invoice_id=invoice_id, kind=InvoiceItem.Kind.DOMAIN, related_id__isnull=False
    ).values_list("related_id", flat=True)
    with transaction.atomic():
        domains = list(
            Domain.objects.select_for_update(of=("self",))
            .filter(pk__in=billed, status=Domain.Status.PENDING)
            .exclude(registrar="")
            .order_by("pk")
        )
        if not domains:
            return []
        tlds = tlds_for_names(names=[domain.name for domain in domains])
        sent = []
        for domain in domains:
            tld = tlds.get(domain.name)
            if tld is None or tld.register_when != Tld.RegisterWhen.ON_PAYMENT:
                continue
            sent.append(domain_activate(domain=domain, send_to_registrar=True, actor=None))
    return sent


def domain_auto_renew_set(*, domain_id: int, on: bool, actor: Actor) -> bool:
    """Switch a live domain's auto-renew on or off (the client, or an admin). Off, the renewal step makes no
    invoice for it. Returns whether it changed."""
    with transaction.atomic():
        domain = Domain.objects.select_for_update().get(pk=domain_id)
        if domain.status not in (Domain.Status.ACTIVE, Domain.Status.EXPIRED, *Domain.BEFORE_ACTIVE):
            raise ValidationError(f"{domain} is {domain.get_status_display()}: there is nothing to renew.")
        if domain.auto_renew == on:
            return False
        domain.auto_renew = on
        domain.save(update_fields=["auto_renew"])
        item_log(actor, "domain_auto_renew", domain, f"Auto-renew of {domain} switched {'on' if on else 'off'}")
    return True


def domain_cancel(*, domain: Domain, as_fraud: bool, actor: Actor, reason: str = "") -> ItemMove | None:
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
    item_log(actor, f"domain_{word}", domain, f"Domain {domain} marked {word}{suffix}")
    emit("DomainFraud" if word == "fraud" else "DomainCancelled", domain_id=domain.pk, client_id=domain.client_id)
    return ItemMove(word)


def domain_set_pending(*, domain: Domain, actor: Actor) -> bool:
    if domain.status not in (Domain.Status.CANCELLED, Domain.Status.FRAUD):
        return False
    domain.set_pending()
    domain_save(domain, update_fields=["status", "setup_round"])
    item_log(actor, "domain_pending", domain, f"Domain {domain} set back to pending")
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
