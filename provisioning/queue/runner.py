"""The worker's side of the module queue: run one call, at most one worker at a time, safe to repeat.

1. Claim. On PostgreSQL a session advisory lock on the call (held while the module works, released by the
   server when the worker's connection dies, so a SIGKILLed worker frees it at once); a call another worker holds
   is left to it. Then, in a short transaction, the call is locked and moved to Running (attempt + 1). A call
   found Running with its lock free was left by a dead worker: it is run again (the modules' actions are
   idempotent, and a second create finds the account the first one made).
2. Place. A create with no server yet gets one from the product's group (provisioning.servers.server_pick),
   committed before the module runs, so a retry goes to the same server.
3. The PreModule<Action> pre-hooks, then the module, outside any transaction (a slow server holds no lock).
4. Record, in one transaction: succeeded (the effects on the service, AfterModule<Action>), or failed
   (AfterModule<Action>Failed): a transient error waits for its retry (backoff with jitter, up to
   PORTAL_MODULE_RETRY_LIMIT attempts), a permanent one, a veto or the last attempt waits for an admin.
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
from provisioning.models import ModuleCall, Service
from provisioning.modules import registry
from provisioning.modules.base import (
    AccountDetails,
    Action,
    ModuleError,
    PermanentModuleError,
    Result,
    SignOnLink,
    TransientModuleError,
    redact,
)
from provisioning.queue.common import (
    Ran,
    RunResult,
    call_error,
    call_failure_recorded,
    call_lock,
    call_success_recorded,
)
from provisioning.queue.context import call_context
from provisioning.queue.effects import call_succeeded
from provisioning.queue.registrar_runner import REGISTRAR_CALL, registrar_call_run
from provisioning.servers import NoRoom, server_pick

logger = logging.getLogger("provisioning.queue")


NO_ROOM_WORDS = {
    NoRoom.NO_GROUP: "The product names no server group, so there is no server to create the account on. "
    "Set the product's server group (or choose a server on the service) and retry.",
    NoRoom.NO_SERVER: "The product's server group has no active server of this module. Add or activate one and retry.",
    NoRoom.FULL: "Every active server of the product's group is at its maximum number of accounts. Raise a "
    "server's maximum or add a server; the call is retried.",
}


def _service(call: ModuleCall) -> Service:
    return (
        Service.objects.select_for_update(of=("self",))
        .select_related("product", "client", "server", "product__server_group")
        .get(pk=call.service_id)
    )


def _payload(call: ModuleCall, service: Service) -> dict:
    return {
        "call_id": call.pk,
        "service_id": service.pk,
        "client_id": service.client_id,
        "module": call.module,
        "action": call.action,
        "server_id": service.server_id,
    }


def _claim(call_id: int) -> tuple[ModuleCall, Service, NoRoom | None] | RunResult | object:
    """Running, attempt + 1, a server placed for a create (or why none could be); or why this worker does not
    run it."""
    with transaction.atomic():
        call = ModuleCall.objects.select_for_update().filter(pk=call_id).first()
        if call is None or call.status not in (
            ModuleCall.Status.QUEUED,
            ModuleCall.Status.RETRYING,
            ModuleCall.Status.RUNNING,
        ):
            return RunResult.FINISHED_BEFORE
        if call.domain_id is not None:
            return REGISTRAR_CALL  # its own runner claims it (still under this worker's advisory lock)
        now = timezone.now()
        if call.status == ModuleCall.Status.RETRYING and call.next_attempt_at and call.next_attempt_at > now:
            return RunResult.NOT_DUE
        service = _service(call)
        apply_transition(call.start, label="started", at=now)
        needs_server = (module_class := registry.module_class(call.module)) is not None and module_class.needs_server
        if Action(call.action) is Action.CREATE and needs_server and service.server_id is None:
            pick = server_pick(group=service.product.server_group, module=call.module)
            if pick.server is None:
                call.save(update_fields=["status", "attempts", "started_at", "next_attempt_at"])
                return call, service, pick.no_room  # the module is not called: the failure is recorded
            service.server = pick.server
            service.save(update_fields=["server"])
        if call.server_id != service.server_id:
            call.server_id = service.server_id
        call.save(update_fields=["status", "attempts", "started_at", "next_attempt_at", "server"])
    return call, service, None


def module_call_run(call_id: int) -> Ran:
    """Run this call if it is due and no other worker holds it. Never raises for a module's fault: the call
    records it."""
    with call_lock(call_id) as held:
        if not held:
            return Ran(call_id, RunResult.BUSY)
        claimed = _claim(call_id)
        if claimed is REGISTRAR_CALL:
            return registrar_call_run(call_id)
        if isinstance(claimed, RunResult):
            return Ran(call_id, claimed)
        call, service, no_room = claimed
        started = time.monotonic()
        result: Result | None = None
        error: ModuleError | None = None
        request_excerpt = ""
        try:
            module = registry.module_for(call.module)
            if no_room is not None:
                raise TransientModuleError(NO_ROOM_WORDS[no_room])
            if module.needs_server and service.server_id is None:
                raise PermanentModuleError(
                    f"{service} is on no server, so the {module.label} module has nowhere to {call.action}."
                )
            context = call_context(call, service)
            request_excerpt = _excerpt(
                {"action": context.action.value, "params": context.params, "settings": context.product_settings},
                context,
            )
            pre(f"PreModule{context.action.event_suffix}", **_payload(call, service), attempt=call.attempts)
            result = module.call(context)
        except Exception as raised:  # recorded on the call, never raised to the worker
            error = call_error(
                raised, call, who="module", setup_errors=(registry.UnknownModule, crypto.SecretUnreadable)
            )
        duration_ms = int((time.monotonic() - started) * 1000)
        return _record(call.pk, result, error, duration_ms, request_excerpt)


def _excerpt(value, context) -> str:
    secrets = [
        str(context.params.get("password", "")),
        context.service.password if context.service else "",
        *((context.server.credentials or {}).values() if context.server else ()),
    ]
    return json.dumps(redact(value, secrets=tuple(secrets)), default=str, sort_keys=True)[:4000]


def _result_summary(result: Result) -> dict:
    """What the call row keeps of a result: never the password."""
    if isinstance(result, AccountDetails):
        return {
            "username": result.username,
            "host": result.host,
            "port": result.port,
            "extra": result.extra,
            "message": result.message,
            "found_existing": result.found_existing,
        }
    if isinstance(result, SignOnLink):
        return {"url": "*** (a sign-on link is a credential: not kept)"}
    summary = {key: value for key, value in vars(result).items() if key not in ("password",)}
    return json.loads(json.dumps(summary, default=str))


def _record(call_id: int, result: Result | None, error: ModuleError | None, duration_ms: int, request: str) -> Ran:
    with transaction.atomic():
        call = ModuleCall.objects.select_for_update().get(pk=call_id)
        service = _service(call)
        now = timezone.now()
        call.duration_ms = duration_ms
        call.request_excerpt = request
        suffix = Action(call.action).event_suffix
        if error is None and result is not None:
            summary = _result_summary(result)
            error = call_success_recorded(
                call, summary, lambda: call_succeeded(call, service, result), who="module", subject="service", now=now
            )
            if error is None:
                emit(f"AfterModule{suffix}", **_payload(call, service), attempt=call.attempts, duration_ms=duration_ms)
                return Ran(call_id, RunResult.SUCCEEDED)
        assert error is not None
        message, gave_up = call_failure_recorded(call, error, now=now)
        emit(
            f"AfterModule{suffix}Failed",
            **_payload(call, service),
            attempt=call.attempts,
            error=message,
            transient=error.transient,
            gave_up=gave_up,
        )
        logger.warning("Module call %s (%s %s) failed: %s", call.pk, call.module, call.action, message)
        return Ran(call_id, RunResult.FAILED if gave_up else RunResult.RETRYING, message)
