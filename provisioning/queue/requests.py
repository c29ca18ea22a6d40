"""Asking for module calls. A call is a ModuleCall row written in the caller's transaction, keyed by its
idempotency key: asking again with the same key (a double-click, two admins at once, a repeated run, a replayed
event) finds the row and sends nothing. Its task is sent after commit (core.after_commit), found by name because
the tasks sit above the queue; the sweep sends it later if the broker was down."""

from __future__ import annotations

import datetime
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from celery import current_app
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from core import crypto
from core.after_commit import send_after_commit
from core.rows import insert_rows
from notifications.services import Actor, actor_label
from provisioning.models import Domain, ModuleCall, RegistrarConfig, RegistrarPoll, Service
from provisioning.modules import registry
from provisioning.modules.base import Action
from provisioning.registrars import registry as registrars
from provisioning.registrars.base import RegistrarAction

RUN_TASK = "provisioning.module_call_run"
RUN_MANY_TASK = "provisioning.module_calls_run"
POLL_TASK = "provisioning.registrar_poll_run"
# The most calls one task runs, one after the other (the automation run asks for thousands at once).
CALL_BATCH = 100


def create_key(service: Service) -> str:
    """The one create of a service's setup: a service set back to Pending after it ended starts a new round."""
    return f"service:{service.pk}:create:r{service.setup_round}"


def action_key(service_id: int, action: Action, nonce: str) -> str:
    """Any other action: `nonce` names the intent (a form's one-time token, the run's date and step)."""
    return f"service:{service_id}:{action.value}:{nonce}"


def new_nonce() -> str:
    """A one-time token for a form that asks for a module action: the same token on a double submit is one call."""
    return uuid.uuid4().hex


@dataclass(frozen=True)
class CallRequested:
    call: ModuleCall
    created: bool  # False: a call with this key existed already (nothing new was asked)


def send_calls(call_ids: Sequence[int]) -> None:
    """After commit: one task for a single call, tasks of CALL_BATCH calls for many."""
    ids = list(call_ids)
    if len(ids) == 1:
        send_after_commit(current_app.tasks[RUN_TASK], ids[0])
        return
    task = current_app.tasks[RUN_MANY_TASK]
    for n in range(0, len(ids), CALL_BATCH):
        send_after_commit(task, ids[n : n + CALL_BATCH])


def module_call_request(
    *, service: Service, action: Action, actor: Actor, key: str, params: dict[str, Any] | None = None
) -> CallRequested:
    """Ask the service's module for `action`, once for `key`. Refused (ValidationError, nothing written) when
    the service has no module or the module does not offer the action."""
    if not service.module:
        raise ValidationError(f"{service} has no provisioning module: there is nothing to call.")
    try:
        module = registry.module_for(service.module)
    except registry.UnknownModule as error:
        raise ValidationError(f"{service}: {error} Install it or choose another module for the product.") from None
    if not module.supports(action):
        raise ValidationError(f"The {module.label} module does not offer {action.value.replace('_', ' ')}.")
    try:
        # A savepoint: a key asked before (a double-click, two admins at once, a replayed event) meets the unique
        # key, and the call already there is returned. Most requests are new, so none is looked up first.
        with transaction.atomic():
            call = ModuleCall.objects.create(
                service=service,
                server_id=service.server_id,
                module=service.module,
                action=action.value,
                idempotency_key=key,
                params_token=crypto.encrypt_json(params or {}),
                requested_by=actor_label(actor),
            )
    except IntegrityError:
        return CallRequested(ModuleCall.objects.get(idempotency_key=key), False)
    send_calls([call.pk])
    return CallRequested(call, True)


def _calls_insert_new(rows: list[dict[str, Any]], *, action: str, actor: Actor) -> list[int]:
    """Insert the call rows whose idempotency key was never asked (one read, one statement), each Queued now by
    `actor`; their tasks are sent after commit. Returns the new calls' ids."""
    existing = set(
        ModuleCall.objects.filter(idempotency_key__in=[row["idempotency_key"] for row in rows]).values_list(
            "idempotency_key", flat=True
        )
    )
    now, label = timezone.now(), actor_label(actor)
    new = [
        {**row, "action": action, "requested_by": label, "created_at": now, "status": ModuleCall.Status.QUEUED}
        for row in rows
        if row["idempotency_key"] not in existing
    ]
    if not new:
        return []
    ids = insert_rows(ModuleCall, new, ids=True)
    send_calls(ids)
    return ids


def module_calls_request_many(
    *, services: Sequence[tuple[int, str, int | None]], action: Action, nonce: str, actor: Actor, params=None
) -> list[int]:
    """The same action for many services at once (the automation run), one statement: `services` are
    (service id, module, server id). Services whose call with this nonce exists already are skipped. Returns the
    ids of the calls made; their tasks are sent after commit."""
    if not services:
        return []
    token = crypto.encrypt_json(params or {})
    rows = [
        {
            "service_id": service_id,
            "server_id": server_id,
            "module": module,
            "idempotency_key": action_key(service_id, action, nonce),
            "params_token": token,
        }
        for service_id, module, server_id in services
    ]
    return _calls_insert_new(rows, action=action.value, actor=actor)


def registration_key(domain: Domain, action: RegistrarAction) -> str:
    """The one register (or transfer in) of a domain's round: accepted again after a cancellation, it is another."""
    return f"domain:{domain.pk}:{action.value}:r{domain.setup_round}"


def domain_action_key(domain_id: int, action: RegistrarAction, nonce: str) -> str:
    return f"domain:{domain_id}:{action.value}:{nonce}"


def registrar_offers(domain: Domain, registrar_name: str, action: RegistrarAction) -> None:
    """Refuse (ValidationError) a registrar that is not named, not installed, or does not offer `action`."""
    if not registrar_name:
        raise ValidationError(f"{domain} has no registrar: choose one (or register it by hand).")
    try:
        registrar = registrars.registrar_for(registrar_name)
    except registrars.UnknownRegistrar as error:
        raise ValidationError(f"{domain}: {error} Install it or choose another registrar.") from None
    if not registrar.supports(action):
        raise ValidationError(f"The {registrar.label} registrar does not offer {action.value.replace('_', ' ')}.")


def registrar_call_request(
    *, domain: Domain, action: RegistrarAction, actor: Actor, key: str, params: dict[str, Any] | None = None
) -> CallRequested:
    """Ask the domain's registrar for `action`, once for `key`, through the module queue (the same rows, retries
    and admin queue as module calls). Refused (ValidationError, nothing written) when the domain has no registrar,
    the registrar is not installed, or it does not offer the action."""
    registrar_offers(domain, domain.registrar, action)
    try:
        with transaction.atomic():  # a savepoint: a key asked before meets the unique key
            call = ModuleCall.objects.create(
                domain=domain,
                module=domain.registrar,
                action=action.value,
                idempotency_key=key,
                params_token=crypto.encrypt_json(params or {}),
                requested_by=actor_label(actor),
            )
    except IntegrityError:
        return CallRequested(ModuleCall.objects.get(idempotency_key=key), False)
    send_calls([call.pk])
    return CallRequested(call, True)


def registrar_calls_request_many(
    *, calls: Sequence[tuple[int, str, str, dict[str, Any]]], action: RegistrarAction, actor: Actor
) -> list[int]:
    """Registrar calls for many domains in one statement: `calls` are (domain id, registrar, idempotency key,
    params). Keys asked before are skipped, so a repeated run or a replayed payment asks for nothing twice.
    Returns the ids of the calls made; their tasks are sent after commit."""
    if not calls:
        return []
    rows = [
        {
            "domain_id": domain_id,
            "module": registrar,
            "idempotency_key": key,
            "params_token": crypto.encrypt_json(params),
        }
        for domain_id, registrar, key, params in calls
    ]
    return _calls_insert_new(rows, action=action.value, actor=actor)


def registrar_renewals_request(
    *, renewals: Sequence[tuple[int, str, datetime.date | None, int]], actor: Actor
) -> list[int]:
    """Renew calls for paid renewals: `renewals` are (domain id, registrar, the expiry date it renews from,
    years), keyed by the expiry date renewed from (a replayed payment asks for nothing twice)."""
    return registrar_calls_request_many(
        calls=[
            (
                domain_id,
                registrar,
                f"domain:{domain_id}:renew:{expiry_date.isoformat() if expiry_date else 'none'}",
                {"years": years},
            )
            for domain_id, registrar, expiry_date, years in renewals
        ],
        action=RegistrarAction.RENEW,
        actor=actor,
    )


def call_params(call: ModuleCall) -> dict[str, Any]:
    return crypto.decrypt_json(call.params_token)


def polling_configs():
    """The active registrar configurations whose registrar reads its account's message queue (EPP poll)."""
    polling = [name for name in registrars.names() if registrars.registrar_class(name).polls_messages]
    return RegistrarConfig.objects.filter(is_active=True, name__in=polling)


def registrar_polls_request() -> list[int]:
    """A poll of each configuration that polls: a Queued RegistrarPoll row each, in one statement, and its task
    after commit (a task lost with the broker is superseded by the next run's poll). Returns the polls' ids."""
    configs = list(polling_configs().order_by("pk").values_list("pk", flat=True))
    polls = RegistrarPoll.objects.bulk_create([RegistrarPoll(config_id=pk) for pk in configs])
    task = current_app.tasks[POLL_TASK]
    for poll in polls:
        send_after_commit(task, poll.pk)
    return [poll.pk for poll in polls]
