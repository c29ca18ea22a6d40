"""The worker's side of a registrar call: the module queue's runner hands it calls that name a domain (it holds
the call's advisory lock already). The same steps as a module call:

1. Claim, in a short transaction: the call locked and Running (attempt + 1), the domain locked.
2. The PreRegistrar<Action> pre-hooks, then the registrar, outside any transaction (a slow registry holds no lock).
3. Record, in one transaction: succeeded (the effects on the domain, AfterRegistrar<Action>), or failed
   (AfterRegistrar<Action>Failed), retried or left for an admin as module calls are (queue.common).

An EPP code the registrar returns is never kept in the call's record.
"""

from __future__ import annotations

import json
import logging
import time

from django.db import transaction
from django.utils import timezone

from core import crypto
from core.fsm import apply_transition
from notifications.bus import emit
from notifications.hooks import pre
from provisioning.models import Domain, ModuleCall
from provisioning.modules.base import ModuleError, redact
from provisioning.queue.common import Ran, RunResult, call_error, call_failure_recorded, call_success_recorded
from provisioning.queue.registrar_context import registrar_call_context, registrar_settings
from provisioning.queue.registrar_effects import registrar_call_succeeded
from provisioning.registrars import registry
from provisioning.registrars.base import EppCode, RegistrarAction, RegistrarContext, RegistrarResult, WrongEppCode

logger = logging.getLogger("provisioning.queue")

CLIENT_FAULT_WORDS = "The registrar could not make the change. Nothing was changed; try again later."

# What the module calls' runner returns from its claim for a call that names a domain.
REGISTRAR_CALL = object()


def _domain(call: ModuleCall) -> Domain:
    return Domain.objects.select_for_update(of=("self",)).select_related("client").get(pk=call.domain_id)


def _payload(call: ModuleCall, domain: Domain) -> dict:
    return {
        "call_id": call.pk,
        "domain_id": domain.pk,
        "client_id": domain.client_id,
        "registrar": call.module,
        "action": call.action,
    }


def _claim(call_id: int) -> tuple[ModuleCall, Domain] | RunResult:
    with transaction.atomic():
        call = ModuleCall.objects.select_for_update().filter(pk=call_id).first()
        if call is None or call.status not in (
            ModuleCall.Status.QUEUED,
            ModuleCall.Status.RETRYING,
            ModuleCall.Status.RUNNING,
        ):
            return RunResult.FINISHED_BEFORE
        now = timezone.now()
        if call.status == ModuleCall.Status.RETRYING and call.next_attempt_at and call.next_attempt_at > now:
            return RunResult.NOT_DUE
        domain = _domain(call)
        apply_transition(call.start, label="started", at=now)
        call.save(update_fields=["status", "attempts", "started_at", "next_attempt_at"])
    return call, domain


def registrar_call_run(call_id: int) -> Ran:
    """Run this registrar call if it is due (the caller holds its advisory lock). Never raises for a registrar's
    fault: the call records it."""
    claimed = _claim(call_id)
    if isinstance(claimed, RunResult):
        return Ran(call_id, claimed)
    call, domain = claimed
    started = time.monotonic()
    result: RegistrarResult | None = None
    error: ModuleError | None = None
    request_excerpt = ""
    try:
        registrar = registry.registrar_for(call.module)
        context = registrar_call_context(call, domain, settings=registrar_settings(call.module))
        request_excerpt = _excerpt({"action": context.action.value, "params": context.params}, context)
        pre(f"PreRegistrar{context.action.event_suffix}", **_payload(call, domain), attempt=call.attempts)
        result = registrar.call(context)
    except Exception as raised:  # recorded on the call, never raised to the worker
        error = call_error(
            raised, call, who="registrar", setup_errors=(registry.UnknownRegistrar, crypto.SecretUnreadable)
        )
    duration_ms = int((time.monotonic() - started) * 1000)
    return _record(call.pk, result, error, duration_ms, request_excerpt)


def _excerpt(value, context: RegistrarContext) -> str:
    secrets = [context.domain.epp_code, *(str(v) for v in context.settings.values() if v)]
    return json.dumps(redact(value, secrets=tuple(s for s in secrets if s)), default=str, sort_keys=True)[:4000]


def _result_summary(result: RegistrarResult) -> dict:
    """What the call row keeps of a result: never an EPP code."""
    summary = {key: value for key, value in vars(result).items() if not (isinstance(result, EppCode) and key == "code")}
    if isinstance(result, EppCode):
        summary["code"] = "*** (an EPP code is a secret: not kept)"
    return json.loads(json.dumps(summary, default=str))


def _record(call_id: int, result: RegistrarResult | None, error: ModuleError | None, duration_ms: int, request: str):
    with transaction.atomic():
        call = ModuleCall.objects.select_for_update().get(pk=call_id)
        domain = _domain(call)
        now = timezone.now()
        call.duration_ms = duration_ms
        call.request_excerpt = request
        suffix = RegistrarAction(call.action).event_suffix
        if error is None and result is not None:
            summary = _result_summary(result)
            error = call_success_recorded(
                call,
                summary,
                lambda: registrar_call_succeeded(call, domain, result),
                who="registrar",
                subject="domain",
                now=now,
            )
            if error is None:
                emit(
                    f"AfterRegistrar{suffix}", **_payload(call, domain), attempt=call.attempts, duration_ms=duration_ms
                )
                return Ran(call_id, RunResult.SUCCEEDED)
        assert error is not None
        # What the client area may show of it: the registrar's plain words, never the protocol's.
        call.result = {"client_message": getattr(error, "client_message", "") or CLIENT_FAULT_WORDS}
        if isinstance(error, WrongEppCode):  # the client can mend it: a new code retries this call
            call.result["wrong_epp_code"] = True
        message, gave_up = call_failure_recorded(call, error, now=now)
        emit(
            f"AfterRegistrar{suffix}Failed",
            **_payload(call, domain),
            attempt=call.attempts,
            error=message,
            transient=error.transient,
            gave_up=gave_up,
        )
        logger.warning("Registrar call %s (%s %s) failed: %s", call.pk, call.module, call.action, message)
        return Ran(call_id, RunResult.FAILED if gave_up else RunResult.RETRYING, message)
