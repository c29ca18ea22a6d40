"""Billing dates: an admin's move of a due date, and how far a paid invoice carries its services and domains."""

from __future__ import annotations

import datetime

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from billing.cycles import billing_day_after_move
from billing.models import Invoice, InvoiceItem
from core.fsm import transition_in_bulk
from notifications.bus import emit_many
from notifications.services import (
    Actor,
    Subject,
    activity_record_many,
)
from provisioning.models import Domain, Service
from provisioning.queue.requests import registrar_renewals_request
from provisioning.registrars import registry as registrars
from provisioning.registrars.base import RegistrarAction
from provisioning.services.common import UNSET, item_log


def billing_dates_set(
    model: type[Service] | type[Domain],
    *,
    pk: int,
    actor: Actor,
    registration_date: datetime.date = UNSET,
    next_due_date: datetime.date | None = UNSET,
    due_date_seen: datetime.date | None = UNSET,
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
        if registration_date is not UNSET and registration_date != item.registration_date:
            said.append(
                (
                    f"{kind}_registration_date_changed",
                    f"Registration date of {item} changed from {item.registration_date} to {registration_date}; "
                    f"still billed on day {anchor} of the month",
                )
            )
            item.registration_date = registration_date
        if next_due_date is not UNSET and next_due_date != item.next_due_date:
            if due_date_seen is not UNSET and due_date_seen != item.next_due_date:
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
            item_log(actor, action, item, message)
    return [message for _action, message in said]


# --- the automation run's overdue steps: many services at a time -------------------------------------------------
# Each status change is the service's FSM transition, applied to the batch by core.fsm.transition_in_bulk (the
# transition decides the sources and what it sets; one guarded UPDATE per source status). The activity rows and
# the events are made by the database from the moved rows, one INSERT ... SELECT each: nothing per service passes
# through Python. The module calls (suspend/unsuspend/terminate the account on its server) come with the
# provisioning modules; until then the status, the reason and the events change, as the issue says.


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


def _renews(registrar_name: str) -> bool:
    registrar_class = registrars.registrar_class(registrar_name)
    return registrar_class is not None and RegistrarAction.RENEW in registrar_class.actions


def _years(expiry_date: datetime.date | None, until: datetime.date) -> int:
    """How many years a paid period renews a domain expiring on `expiry_date` for (at least one)."""
    if expiry_date is None:
        return 1
    return max(1, round((until - expiry_date).days / 365.25))


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
        .values_list("pk", "name", "client_id", "expiry_date", "registrar")
    )
    behind = [row[:4] for row in rows if row[3] is None or row[3] < until_of[row[0]]]
    if not behind:
        return
    invoice = Invoice.objects.only("number").get(pk=invoice_id)
    # A domain at a registrar that renews is renewed there: its expiry date is the one the registrar confirms
    # (queue.registrar_effects), not the paid period's. The others move with the paid period, as before.
    at_registrar = {row[0]: row[4] for row in rows if row[4] and _renews(row[4])}
    if at_registrar:
        renewing = [row for row in behind if row[0] in at_registrar]
        registrar_renewals_request(
            renewals=[
                (pk, at_registrar[pk], expiry_date, _years(expiry_date, until_of[pk]))
                for pk, _name, _client, expiry_date in renewing
            ],
            actor=None,
        )
        entries = [
            (
                Subject(Domain._meta.label_lower, pk),
                client_id,
                f"Renewal of {name} paid ({invoice}): renew queued at the {at_registrar[pk]} registrar; the expiry "
                f"date ({expiry_date or 'none'}) moves when it confirms",
            )
            for pk, name, client_id, expiry_date in renewing
        ]
        activity_record_many(actor=None, action="domain_renewal_queued", entries=entries)
        behind = [row for row in behind if row[0] not in at_registrar]
        if not behind:
            return
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
