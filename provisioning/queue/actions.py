"""An admin's hand on the module queue: Retry a call that failed (the same call, same key, now), mark it resolved
(settled by hand: nothing more is tried), and mark a to-do done. Each is in the activity log."""

from __future__ import annotations

import datetime
import enum
from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from core import crypto
from core.fsm import apply_transition
from notifications.models import ActivityLog
from notifications.services import Actor, activity_record, actor_user
from provisioning.models import Domain, ModuleCall, ModuleTodo
from provisioning.queue.registrar_effects import domain_confirmed
from provisioning.queue.requests import call_params, registration_key, send_calls
from provisioning.registrars.base import RegistrarAction
from provisioning.services.common import item_log
from provisioning.services.domains import epp_code_clean


class CallMove(enum.Enum):
    RETRIED = "retried"
    RESOLVED = "resolved"
    NOT_OPEN = "not_open"  # succeeded, resolved or running: left as it was


@dataclass(frozen=True)
class CallMoved:
    call_id: int
    move: CallMove


def module_calls_retry(*, call_ids: list[int], actor: Actor) -> list[CallMoved]:
    """Failed or waiting calls queued again now, with the same key; their tasks are sent after commit."""
    moved: list[CallMoved] = []
    with transaction.atomic():
        for call in ModuleCall.objects.select_for_update().filter(pk__in=call_ids).order_by("pk"):
            if call.status not in (ModuleCall.Status.FAILED, ModuleCall.Status.RETRYING):
                moved.append(CallMoved(call.pk, CallMove.NOT_OPEN))
                continue
            apply_transition(call.retry, label="retried")
            call.save(update_fields=["status", "next_attempt_at"])
            activity_record(
                actor=actor,
                action="module_call_retried",
                subject=call,
                message=f"Retried module call #{call.pk}: {call}",
            )
            moved.append(CallMoved(call.pk, CallMove.RETRIED))
        send_calls([m.call_id for m in moved if m.move is CallMove.RETRIED])
    return moved


def module_calls_resolve(*, call_ids: list[int], actor: Actor, note: str) -> list[CallMoved]:
    """Failed or waiting calls an admin settled by hand: nothing more is tried. A note saying how is required."""
    note = (note or "").strip()
    if not note:
        raise ValidationError("Say how the call was settled (for example: the account was created by hand).")
    moved: list[CallMoved] = []
    with transaction.atomic():
        for call in ModuleCall.objects.select_for_update().filter(pk__in=call_ids).order_by("pk"):
            if call.status not in (ModuleCall.Status.FAILED, ModuleCall.Status.RETRYING):
                moved.append(CallMoved(call.pk, CallMove.NOT_OPEN))
                continue
            apply_transition(call.resolve, label="resolved", by=actor_user(actor), note=note, at=timezone.now())
            call.save(update_fields=["status", "resolved_by", "resolution_note", "finished_at", "next_attempt_at"])
            activity_record(
                actor=actor,
                action="module_call_resolved",
                subject=call,
                message=f"Marked module call #{call.pk} resolved: {note}",
            )
            moved.append(CallMoved(call.pk, CallMove.RESOLVED))
    return moved


# The to-dos of these registrar actions are done only with the new expiry date the registry gave the admin.
NEEDS_EXPIRY = frozenset({RegistrarAction.REGISTER.value, RegistrarAction.TRANSFER.value, RegistrarAction.RENEW.value})


# What a domain holds once the admin did these at the registry by hand: (the domain's field, the call's param).
HELD_BY_HAND = {
    RegistrarAction.SAVE_NAMESERVERS.value: ("nameservers", "nameservers"),
    RegistrarAction.SAVE_LOCK.value: ("transfer_lock", "locked"),
}


@dataclass(frozen=True)
class TodosDone:
    done: int
    needs_expiry: list[int]  # domain to-dos left open: done only with the domain's new expiry date


def module_todos_done(*, todo_ids: list[int], actor: Actor, expiry_date: datetime.date | None = None) -> TodosDone:
    """Mark these to-dos done (those not done already). A domain's register, transfer or renew to-do needs the
    new expiry date the admin got from the registry: with it, the domain is Active until then (queue
    registrar_effects.domain_confirmed); without it, that to-do is left open and named in `needs_expiry`."""
    done, needs_expiry = 0, []
    with transaction.atomic():
        todos = list(
            ModuleTodo.objects.select_for_update(of=("self",))
            .filter(pk__in=todo_ids, done_at__isnull=True)
            .select_related("call")
            .order_by("pk")
        )
        now, user = timezone.now(), actor_user(actor)
        for todo in todos:
            dated = todo.domain_id is not None and todo.call.action in NEEDS_EXPIRY
            if dated and expiry_date is None:
                needs_expiry.append(todo.pk)
                continue
            todo.done_at, todo.done_by = now, user
            todo.save(update_fields=["done_at", "done_by"])
            activity_record(
                actor=actor,
                action="module_todo_done",
                subject=todo,
                message=f"Marked done: {todo.text}" + (f" (new expiry date {expiry_date})" if dated else ""),
            )
            if dated:
                domain = Domain.objects.select_for_update(of=("self",)).get(pk=todo.domain_id)
                domain_confirmed(domain, expiry_date, how=f"{todo.call.action} done by hand", actor=actor)
            elif todo.domain_id is not None and todo.call.action in HELD_BY_HAND:
                # Done at the registry by hand: the domain now holds what was asked.
                field, key = HELD_BY_HAND[todo.call.action]
                value = call_params(todo.call).get(key)
                Domain.objects.filter(pk=todo.domain_id).update(
                    **{field: list(value or []) if field == "nameservers" else bool(value)}
                )
            done += 1
    return TodosDone(done, needs_expiry)


class CodeKept(enum.Enum):
    RETRIED = "retried"  # the transfer call the registry refused for its code is asked again, now, with the new one
    FOR_SENDING = "for_sending"  # not sent yet (or refused later at the registry): used when it is sent
    ON_ITS_WAY = "on_its_way"  # the transfer is with the registry already: the code is kept for a new request
    FOR_AN_ADMIN = "for_an_admin"  # refused for another reason, or asked again too often: an admin sends it
    SAME_AS_REFUSED = "same_as_refused"  # the very code the registry refused: nothing is asked again


# A transfer in takes a new EPP code until it is done: waiting (Pending, also after the registry refused it) or on
# its way (Pending Transfer).
TAKES_EPP_CODE = (Domain.Status.PENDING, Domain.Status.PENDING_TRANSFER)
# New codes that may each retry a refused transfer, per domain and day: a registry counts wrong codes, and a
# client (or a script) must not be able to make the portal hammer it.
CODE_RETRIES_PER_DAY = 5


def _code_retries_left(domain: Domain) -> bool:
    """Whether another new code may retry the domain's refused transfer today (a read: a limit, not a key)."""
    return (
        ActivityLog.objects.filter(
            action="domain_epp_code_retried",
            subject_type=domain._meta.label_lower,
            subject_id=domain.pk,
            created_at__gte=timezone.now() - datetime.timedelta(days=1),
        ).count()
        < CODE_RETRIES_PER_DAY
    )


def domain_epp_code_replace(*, domain_id: int, code: str, actor: Actor) -> CodeKept:
    """A new EPP code for a transfer in, from the client or an admin: kept encrypted in place of the old one, never
    shown. When the registry refused this round's transfer call for its code (it waits in the queue), a new code
    (not the refused one) retries that call at once, up to CODE_RETRIES_PER_DAY a day; otherwise the code waits
    for the transfer to be sent. Refused (ValidationError, nothing changed) for a domain that is not a transfer in
    waiting, or a code a registry cannot take."""
    round_now = Domain.objects.filter(pk=domain_id).values_list("setup_round", flat=True).first()
    if round_now is None:
        raise ValidationError("That domain no longer exists.")
    key = registration_key(Domain(pk=domain_id, setup_round=round_now), RegistrarAction.TRANSFER)
    with transaction.atomic():
        # The call before the domain, as the queue's worker locks them (a record holds the call, then the domain).
        call = ModuleCall.objects.select_for_update().filter(idempotency_key=key).first()
        domain = Domain.objects.select_for_update(of=("self",)).get(pk=domain_id)
        if domain.registration_type != Domain.RegistrationType.TRANSFER or domain.status not in TAKES_EPP_CODE:
            raise ValidationError(
                f"{domain} is {domain.get_status_display()}: an EPP code is only taken for a transfer in that is "
                "not done yet."
            )
        new_code = epp_code_clean(code, name=domain.name)
        try:
            refused_code = crypto.decrypt(domain.epp_code_token)
        except crypto.SecretUnreadable:  # written under a key since removed: the new code replaces it all the same
            refused_code = ""
        domain.epp_code_token = crypto.encrypt(new_code)
        domain.save(update_fields=["epp_code_token"])
        kept = CodeKept.FOR_SENDING if domain.status == Domain.Status.PENDING else CodeKept.ON_ITS_WAY
        # A call waiting to retry by itself (a registry down) reads the new code when it runs: it is on its way.
        refused = call is not None and call.status == ModuleCall.Status.FAILED
        if domain.status == Domain.Status.PENDING_TRANSFER and refused and domain.setup_round == round_now:
            kept = CodeKept.FOR_AN_ADMIN
            wrong_code = bool((call.result or {}).get("wrong_epp_code"))
            if wrong_code and new_code == refused_code:
                kept = CodeKept.SAME_AS_REFUSED
            elif wrong_code and _code_retries_left(domain):
                module_calls_retry(call_ids=[call.pk], actor=actor)
                kept = CodeKept.RETRIED
        if kept is CodeKept.RETRIED:
            words = f"transfer call #{call.pk} is asked again with it"
            item_log(actor, "domain_epp_code_retried", domain, f"{domain}: a new EPP code was given; {words}")
        else:
            item_log(
                actor, "domain_epp_code_given", domain, f"{domain}: a new EPP code was given, kept for the transfer"
            )
    return kept
