"""Cancellation requests: a client asks, and the automation run ends the service on the day asked for."""

from __future__ import annotations

import datetime
import logging
from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.db import DatabaseError, IntegrityError, transaction
from django.utils import timezone

from billing.selectors import invoices_lock
from billing.services import WithdrawalOutcome, invoice_lines_withdraw
from core.fsm import transition_in_bulk
from core.inputs import text_validate
from notifications.bus import emit
from notifications.services import (
    Actor,
    actor_label,
    email_queue,
)
from provisioning.models import CancellationRequest, Service
from provisioning.selectors import cancellation_refusal, open_service_lines
from provisioning.services.common import item_log, services_move_many
from provisioning.wording import cancellation_refusal_words

logger = logging.getLogger(__name__)


CANCELLATION_REASON_MAX = 2000


def cancellation_request(*, service_id: int, when: str, reason: str, actor: Actor) -> CancellationRequest:
    """Ask for a live service to end, at once or at the end of its paid period; the automation run carries it
    out. Refused for a service that is not live or already has an open request."""
    if when not in CancellationRequest.When.values:
        raise ValidationError(f"When to cancel must be one of: {', '.join(CancellationRequest.When.values)}.")
    if len(reason.strip()) > CANCELLATION_REASON_MAX:
        raise ValidationError(f"The reason is too long: {CANCELLATION_REASON_MAX} characters at most.")
    text_validate(reason, multiline=True, what="The reason")  # PostgreSQL refuses NUL; the rest reach the admin
    with transaction.atomic():
        service = Service.objects.select_for_update().select_related("product", "client").get(pk=service_id)
        refusal = cancellation_refusal(service)
        if refusal:
            raise ValidationError(cancellation_refusal_words(service, refusal), code=refusal.value)
        try:  # the unique open request decides between two requests at once
            with transaction.atomic():
                request = CancellationRequest.objects.create(
                    service=service, when=when, reason=reason.strip(), requested_by=actor_label(actor)
                )
        except IntegrityError:
            raise ValidationError(f"{service} already has an open cancellation request.") from None
        timing = "at once" if when == CancellationRequest.When.IMMEDIATE else f"on {service.next_due_date}"
        item_log(actor, "cancellation_requested", service, f"Cancellation of {service} requested ({timing})")
        emit(
            "CancellationRequest", service_id=service.pk, client_id=service.client_id, when=when, request_id=request.pk
        )
        email_queue(
            template="cancellation_confirmed",
            to_address=service.client.email,
            idempotency_key=f"cancellation_confirmed:{request.pk}",
            context={
                "service_id": service.pk,
                "product": service.product.name,
                "domain": service.domain,
                "when": "at once" if when == CancellationRequest.When.IMMEDIATE else "at the end of the paid period",
                "cancel_on": ""
                if when == CancellationRequest.When.IMMEDIATE or service.next_due_date is None
                else service.next_due_date.isoformat(),
            },
            client_id=service.client_id,
        )
    return request


def cancellation_withdraw(*, request_id: int, actor: Actor, client_id: int | None = None) -> CancellationRequest:
    """A client (their own, `client_id`) or an admin takes back an open request before the run carries it out:
    the service stays as it is, billed as before, and may be asked to end again later. Refused for a request
    already carried out or withdrawn."""
    with transaction.atomic():
        request = (
            CancellationRequest.objects.select_for_update(of=("self",))
            .select_related("service__product")
            .get(pk=request_id)
        )
        service = request.service
        if client_id is not None and service.client_id != client_id:
            raise CancellationRequest.DoesNotExist
        if request.status != CancellationRequest.Status.OPEN:
            raise ValidationError(
                f"The cancellation of {service} is {request.get_status_display().lower()}: only an open request "
                "can be withdrawn."
            )
        request.withdraw()
        request.save(update_fields=["status"])
        item_log(actor, "cancellation_withdrawn", service, f"Cancellation of {service} withdrawn")
        emit("CancellationWithdrawn", service_id=service.pk, client_id=service.client_id, request_id=request.pk)
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
    transition_in_bulk(CancellationRequest.objects.filter(pk__any=[r.pk for r in requests]), "carry_out", on=today)
    ended = services_move_many(
        [request.service_id for request in requests],
        "terminate",
        {"on": today},
        reason="cancellation requested",
        action="service_terminated",
        event="ServiceTerminated",
        says=f" terminated on {today}: cancellation requested",
        actor=None,
        email="service_terminated",
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
