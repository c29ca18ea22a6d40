from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db import models
from django.db.models.functions import JSONObject
from django.utils import timezone

from core.rows import insert_rows, insert_select
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


@dataclass(frozen=True)
class Subject:
    """What an activity row names, for a caller that holds no model instance (a batch of plain rows)."""

    label: str  # the model's label_lower, e.g. "billing.invoice"
    pk: int


def activity_record_many(
    *, actor: Actor, action: str, entries: list[tuple[models.Model | Subject, int | None, str]]
) -> None:
    """activity_record for many subjects in one statement: (subject, client id, message) each."""
    user, label = actor_user(actor), actor_label(actor)
    now = timezone.now()
    insert_rows(
        ActivityLog,
        [
            {
                "created_at": now,
                "actor_id": user.pk if user is not None else None,
                "actor_label": label,
                "action": action,
                "subject_type": subject.label if isinstance(subject, Subject) else subject._meta.label_lower,
                "subject_id": subject.pk,
                "client_id": client_id,
                "message": message,
            }
            for subject, client_id, message in entries
        ],
    )


def activity_record_select(
    *, actor: Actor, action: str, subject_type: str, queryset: models.QuerySet, subject_id, client_id, message
) -> int:
    """activity_record_many for rows the database makes: one entry per row of `queryset`, its subject id, client
    id and message given as expressions over the queryset's model (see core.rows.insert_select).
    `subject_type` is the subject model's label_lower. Returns how many entries were written."""
    user = actor_user(actor)
    return insert_select(
        ActivityLog,
        queryset,
        {
            "created_at": timezone.now(),
            "actor_id": user.pk if user is not None else None,
            "actor_label": actor_label(actor),
            "action": action,
            "subject_type": subject_type,
            "subject_id": subject_id,
            "client_id": client_id,
            "message": message,
        },
    )


def email_queue(
    *, template: str, to_address: str, idempotency_key: str, context: dict[str, Any], client_id: int | None = None
) -> tuple[OutboundEmail, bool]:
    """Record an email to send, once per idempotency key. Returns the row and whether it is new."""
    return OutboundEmail.objects.get_or_create(
        idempotency_key=idempotency_key,
        defaults={"template": template, "to_address": to_address, "context": context, "client_id": client_id},
    )


@dataclass(frozen=True)
class EmailToQueue:
    """One email for email_queue_many: what email_queue takes."""

    template: str
    to_address: str
    idempotency_key: str
    context: dict[str, Any]
    client_id: int | None = None


def email_queue_many(emails: list[EmailToQueue]) -> None:
    """email_queue for many emails in one INSERT (a batch of the automation run). An email whose idempotency key
    was queued before is left as it was: queued once, like email_queue."""
    OutboundEmail.objects.bulk_create(
        [
            OutboundEmail(
                template=email.template,
                to_address=email.to_address,
                idempotency_key=email.idempotency_key,
                context=email.context,
                client_id=email.client_id,
            )
            for email in emails
        ],
        ignore_conflicts=True,
    )


def email_queue_select(*, queryset: models.QuerySet, template, to_address, idempotency_key, context, client_id) -> int:
    """email_queue_many for emails the database makes: one per row of `queryset`, each part an expression over
    the queryset's model (`context` a {key: expression} dict, stored as a JSON object). An idempotency key
    queued before is left as it was. Returns how many emails were queued."""
    return insert_select(
        OutboundEmail,
        queryset,
        {
            "template": template,
            "to_address": to_address,
            "idempotency_key": idempotency_key,
            "context": JSONObject(**context),
            "client_id": client_id,
            "created_at": timezone.now(),
        },
        ignore_conflicts=True,
    )
