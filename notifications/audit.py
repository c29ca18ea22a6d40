"""Governance: every change to what reacts to events (webhook endpoints, email templates, hook switches) is made
with a reason and recorded here, append-only, with the fields before and after and secrets redacted.

The services that change those rows call `audit_record` in their transaction; the admin shows `audit_for` on
each object's page. Nothing updates or deletes an AuditEntry (a PostgreSQL trigger refuses it)."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from django.core.exceptions import ValidationError
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models

from notifications.models import AuditEntry
from notifications.services import Actor, actor_label, actor_user

REDACTED = "(redacted)"
REASON_REQUIRED = "Say why you are making this change: the reason is kept in the audit."


def reason_clean(reason: str | None) -> str:
    """The reason, stripped; refused (ValidationError on `reason`) when there is none."""
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError({"reason": REASON_REQUIRED})
    return reason


def _plain(values: dict[str, Any], secret_fields: Iterable[str]) -> dict[str, Any]:
    secret = set(secret_fields)
    shown = {
        name: (REDACTED if name in secret and value not in ("", None) else value) for name, value in values.items()
    }
    return json.loads(json.dumps(shown, cls=DjangoJSONEncoder))


def audit_record(
    *,
    actor: Actor,
    subject: models.Model,
    action: str,
    reason: str,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    secret_fields: Iterable[str] = (),
) -> AuditEntry:
    """Record one governed change. `before` and `after` are the changed fields' plain values; a field named in
    `secret_fields` is stored as "(redacted)". A blank reason is refused before anything is written."""
    secret_fields = tuple(secret_fields)
    return AuditEntry.objects.create(
        actor=actor_user(actor),
        actor_label=actor_label(actor),
        subject_type=subject._meta.label_lower,
        subject_id=subject.pk,
        subject_label=str(subject)[:200],
        action=action,
        reason=reason_clean(reason),
        before=_plain(before or {}, secret_fields),
        after=_plain(after or {}, secret_fields),
    )


def audit_for(subject: models.Model) -> models.QuerySet[AuditEntry]:
    """The audit of one object, newest first."""
    return AuditEntry.objects.filter(subject_type=subject._meta.label_lower, subject_id=subject.pk)


def changed_fields(instance: models.Model, changes: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(before, after) of the fields `changes` really changes on `instance`, as plain values for the audit."""
    before, after = {}, {}
    for name, value in changes.items():
        current = getattr(instance, name)
        if current != value:
            before[name], after[name] = current, value
    return before, after
