"""An admin's hand on the module queue: Retry a call that failed (the same call, same key, now), mark it resolved
(settled by hand: nothing more is tried), and mark a to-do done. Each is in the activity log."""

from __future__ import annotations

import enum
from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from core.fsm import apply_transition
from notifications.services import Actor, activity_record, actor_user
from provisioning.models import ModuleCall, ModuleTodo
from provisioning.queue.requests import send_calls


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


def module_todos_done(*, todo_ids: list[int], actor: Actor) -> int:
    """Mark these to-dos done (those not done already); returns how many."""
    with transaction.atomic():
        todos = list(ModuleTodo.objects.select_for_update().filter(pk__in=todo_ids, done_at__isnull=True))
        now, user = timezone.now(), actor_user(actor)
        for todo in todos:
            todo.done_at, todo.done_by = now, user
            todo.save(update_fields=["done_at", "done_by"])
            activity_record(
                actor=actor,
                action="module_todo_done",
                subject=todo,
                message=f"Marked done: {todo.text}",
            )
    return len(todos)
