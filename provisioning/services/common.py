"""What the provisioning services share: the activity row of an item, and moving many services through one
transition under their locks."""

from __future__ import annotations

from typing import Any

from django.db.models import CharField, F, Q, Value
from django.db.models.functions import Cast, Concat
from django.utils import timezone

from core.fsm import transition_in_bulk
from notifications.bus import emit_select
from notifications.services import (
    Actor,
    activity_record,
    activity_record_select,
    email_queue_select,
)
from provisioning.models import Domain, Service
from provisioning.modules import registry
from provisioning.modules.base import Action
from provisioning.queue.requests import module_calls_request_many, new_nonce
from provisioning.selectors import service_label

# An argument not given (None is a value: "no due date").
UNSET: Any = object()


def item_log(actor: Actor, action: str, obj: Service | Domain, message: str) -> None:
    activity_record(actor=actor, action=action, subject=obj, client_id=obj.client_id, message=message)


# The module action that carries a status move out on the service's server (provisioning.queue).
MODULE_ACTION_OF = {"suspend": Action.SUSPEND, "unsuspend": Action.UNSUSPEND, "terminate": Action.TERMINATE}


def module_calls_for_moves(ids: list[int], transition: str, *, reason: str, actor: Actor) -> list[int]:
    """The module calls that carry out a status move on the servers: one per moved service that has a module
    and an account to act on (a server, or a module that needs none, like Manual). The status moved first, in
    this transaction; the call follows after commit, and a failure waits in the module queue without undoing
    the move. Each move gets its own key, so a service suspended, lifted and suspended again is called each
    time, and a repeated run (which moves nothing twice) asks for nothing twice."""
    action = MODULE_ACTION_OF.get(transition)
    if action is None or not ids:
        return []
    needs_no_server = [name for name in registry.names() if not registry.module_class(name).needs_server]
    targets = list(
        Service.objects.filter(pk__any=ids)
        .exclude(module="")
        .filter(Q(server_id__isnull=False) | Q(module__in=needs_no_server))
        .values_list("pk", "module", "server_id")
    )
    return module_calls_request_many(
        services=targets, action=action, nonce=f"move-{new_nonce()}", actor=actor, params={"reason": reason}
    )


def services_move_many(
    ids: list[int],
    transition: str,
    arguments: dict,
    *,
    action: str,
    event: str,
    says: str,
    actor: Actor,
    reason: str = Service.SuspensionReason.OVERDUE,
    email: str | None = None,
) -> list[int]:
    """Apply `transition(**arguments)` to these (locked) services; each one moved gets an activity entry
    "<service><says>", the event `event` (its payload's reason is `reason`), with `email` that email to its
    client, and the module call that carries the move out on its server (module_calls_for_moves). Returns the
    ids moved."""
    moved = transition_in_bulk(Service.objects.filter(pk__any=ids), transition, **arguments)
    module_calls_for_moves(moved, transition, reason=reason, actor=actor)
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
        if email:
            service_emails(rows, template=email, reason=reason)
    return moved


def service_emails(services, *, template: str, reason: str = "") -> int:
    """The client's email of `template` for each of these services, once per service, template and day (a
    service suspended, lifted and suspended again on one day hears of the first suspension only)."""
    today = timezone.localdate().isoformat()
    return email_queue_select(
        queryset=services,
        template=Value(template),
        to_address=F("client__email"),
        idempotency_key=Concat(
            Value(f"{template}:"), Cast("pk", CharField()), Value(f":{today}"), output_field=CharField()
        ),
        context={
            "service_id": F("pk"),
            "product": F("product__name"),
            "domain": F("domain"),
            "reason": Value(reason),
        },
        client_id=F("client_id"),
    )
