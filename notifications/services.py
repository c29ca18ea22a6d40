from __future__ import annotations

from typing import Any

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db import models

from notifications.models import ActivityLog, OutboundEmail

Actor = AbstractBaseUser | AnonymousUser | None


def actor_label(actor: Actor) -> str:
    if actor is None or not getattr(actor, "is_authenticated", False):
        return "system"
    return actor.get_username()


def actor_user(actor: Actor) -> AbstractBaseUser | None:
    """The user to link a record to, or None for the system and anonymous visitors."""
    return actor if actor is not None and getattr(actor, "is_authenticated", False) else None


def activity_record(
    *, actor: Actor, action: str, subject: models.Model, message: str, client_id: int | None = None
) -> ActivityLog:
    return ActivityLog.objects.create(
        actor=actor_user(actor),
        actor_label=actor_label(actor),
        action=action,
        subject_type=subject._meta.label_lower,
        subject_id=subject.pk,
        client_id=client_id,
        message=message,
    )


def activity_record_many(*, actor: Actor, action: str, entries: list[tuple[models.Model, int | None, str]]) -> None:
    """activity_record for many subjects in one INSERT: (subject, client id, message) each."""
    user, label = actor_user(actor), actor_label(actor)
    ActivityLog.objects.bulk_create(
        ActivityLog(
            actor=user,
            actor_label=label,
            action=action,
            subject_type=subject._meta.label_lower,
            subject_id=subject.pk,
            client_id=client_id,
            message=message,
        )
        for subject, client_id, message in entries
    )


def email_queue(
    *, template: str, to_address: str, idempotency_key: str, context: dict[str, Any], client_id: int | None = None
) -> tuple[OutboundEmail, bool]:
    """Record an email to send, once per idempotency key. Returns the row and whether it is new."""
    return OutboundEmail.objects.get_or_create(
        idempotency_key=idempotency_key,
        defaults={"template": template, "to_address": to_address, "context": context, "client_id": client_id},
    )
