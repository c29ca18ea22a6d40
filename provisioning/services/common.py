"""What the provisioning services share: the activity row of an item, and moving many services through one
transition under their locks."""

from __future__ import annotations

from typing import Any

from django.db.models import CharField, F, Value
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
from provisioning.selectors import service_label

# An argument not given (None is a value: "no due date").
UNSET: Any = object()


def item_log(actor: Actor, action: str, obj: Service | Domain, message: str) -> None:
    activity_record(actor=actor, action=action, subject=obj, client_id=obj.client_id, message=message)


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
    "<service><says>", the event `event` (its payload's reason is `reason`) and, with `email`, that email to its
    client. Returns the ids moved."""
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
