from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from celery import current_app
from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db import models
from django.db.models.functions import JSONArray, JSONObject
from django.utils import timezone

from core.after_commit import send_after_commit
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


SEND_EMAILS_TASK = "notifications.send_emails"
# The most emails one sending task gets: one task is one SMTP connection, sending its emails one after the other,
# and an email waits claimed ("sending") until its turn; notifications.emails.sending.stale_claim() is derived
# from it.
EMAIL_BATCH = 100


def emails_send_after_commit(email_ids: list[int]) -> None:
    """Sending tasks for these emails once the transaction commits, at most EMAIL_BATCH ids each
    (notifications.emails.tasks, found by name: the tasks sit above the services). A broker that is down does not
    undo the committed change (core.after_commit); the sweep sends what was left queued. Any other error is raised."""
    if not email_ids or not settings.EMAIL_SEND_AFTER_COMMIT:
        return
    task = current_app.tasks[SEND_EMAILS_TASK]
    ids = list(email_ids)
    for n in range(0, len(ids), EMAIL_BATCH):
        send_after_commit(task, ids[n : n + EMAIL_BATCH])


def email_queue(
    *,
    template: str,
    to_address: str,
    idempotency_key: str,
    context: dict[str, Any],
    client_id: int | None = None,
    attachments: list[dict[str, Any]] | None = None,
    after_commit: bool = True,
) -> tuple[OutboundEmail, bool]:
    """Record an email to send, once per idempotency key, and send it after commit (unless `after_commit` is
    False: the caller sends it). Returns the row and whether it is new. `context` holds plain values (JSON);
    `attachments` references (notifications.emails.attachments)."""
    email, created = OutboundEmail.objects.get_or_create(
        idempotency_key=idempotency_key,
        defaults={
            "template": template,
            "to_address": to_address,
            "context": context,
            "client_id": client_id,
            "attachments": attachments or [],
        },
    )
    if created and after_commit:
        emails_send_after_commit([email.pk])
    return email, created


@dataclass(frozen=True)
class EmailToQueue:
    """One email for email_queue_many: what email_queue takes."""

    template: str
    to_address: str
    idempotency_key: str
    context: dict[str, Any]
    client_id: int | None = None
    attachments: list[dict[str, Any]] = field(default_factory=list)


def email_queue_many(emails: list[EmailToQueue]) -> int:
    """email_queue for many emails in one INSERT (a batch of the automation run), sent by one task after commit.
    An email whose idempotency key was queued before is left as it was: queued once, like email_queue. Returns
    how many were queued."""
    if not emails:
        return 0
    OutboundEmail.objects.bulk_create(
        [
            OutboundEmail(
                template=email.template,
                to_address=email.to_address,
                idempotency_key=email.idempotency_key,
                context=email.context,
                client_id=email.client_id,
                attachments=email.attachments,
            )
            for email in emails
        ],
        ignore_conflicts=True,
    )
    # ON CONFLICT DO NOTHING gives no ids back: the batch's emails still queued are read by their keys (one
    # query); one queued before and not sent yet goes out with them, which its own task would have done.
    ids = list(
        OutboundEmail.objects.filter(
            idempotency_key__in=[email.idempotency_key for email in emails], status=OutboundEmail.Status.QUEUED
        ).values_list("pk", flat=True)
    )
    emails_send_after_commit(ids)
    return len(ids)


def email_queue_select(
    *, queryset: models.QuerySet, template, to_address, idempotency_key, context, client_id, attachments=None
) -> int:
    """email_queue_many for emails the database makes: one per row of `queryset`, each part an expression over
    the queryset's model (`context` and `attachments` {key: expression} dicts, stored as a JSON object and a
    one-element JSON list), sent by one task after commit. An idempotency key queued before is left as it was.
    Returns how many emails were queued."""
    columns = {
        "template": template,
        "to_address": to_address,
        "idempotency_key": idempotency_key,
        "context": JSONObject(**context),
        "client_id": client_id,
        "created_at": timezone.now(),
    }
    if attachments:
        columns["attachments"] = JSONArray(JSONObject(**attachments))
    ids = [row[0] for row in insert_select(OutboundEmail, queryset, columns, ignore_conflicts=True, returning=("id",))]
    emails_send_after_commit(ids)
    return len(ids)
