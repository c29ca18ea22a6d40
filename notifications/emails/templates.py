"""The governed edits of email templates: every change has a reason and lands in the audit, and a template that
does not parse or reads a variable its event does not provide is refused with the reason why."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from notifications.audit import audit_record, changed_fields, reason_clean
from notifications.emails.catalog import COMMON_VARIABLES, TEMPLATES, template_files, template_spec
from notifications.emails.rendering import PARTS, RenderedEmail, email_render, template_check
from notifications.models import EmailTemplate
from notifications.services import Actor

EDITABLE = ("subject", "body_html", "body_text", "enabled", "description")


class TemplateChange(enum.StrEnum):
    CHANGED = "changed"
    UNCHANGED = "unchanged"


@dataclass(frozen=True)
class TemplateUpdated:
    template: EmailTemplate
    change: TemplateChange


def template_allowed_variables(template: EmailTemplate) -> set[str]:
    return set(COMMON_VARIABLES) | set(template_spec(template.name, template.event).variables)


def email_template_check(template: EmailTemplate, values: dict[str, Any]) -> None:
    """Refuse values that would not render (ValidationError by field): those template_check refuses, and those
    that fail when rendered on the template's sample data ({% widthratio 1 1 "a" %} parses, then fails)."""
    parts = {part: values.get(part, getattr(template, part)) for part in PARTS}
    template_check(parts, allowed=template_allowed_variables(template))
    _sample_render(template, parts)


def _sample_render(template: EmailTemplate, parts: dict[str, str]) -> RenderedEmail:
    """The parts rendered on the template's sample data; a part that fails is refused (ValidationError by part)."""
    samples = template_spec(template.name, template.event).samples()
    errors: dict[str, list[str]] = {}
    for part, source in parts.items():
        try:
            email_render(context=samples, **{**dict.fromkeys(PARTS, ""), part: source})
        except Exception as error:  # whatever a template raises while rendering: it is the template's to fix
            errors[part] = [f"This template does not render on its sample data: {type(error).__name__}: {error}"]
    if errors:
        raise ValidationError(errors)
    return email_render(context=samples, **parts)


def email_template_update(*, template_id: int, changes: dict[str, Any], reason: str, actor: Actor) -> TemplateUpdated:
    """Change a template's texts or its switch. Refused, with nothing written: no reason, an unknown field, a part
    that does not parse, a variable the event does not provide."""
    reason = reason_clean(reason)
    unknown = set(changes) - set(EDITABLE)
    if unknown:
        raise ValidationError(f"These fields of a template cannot be changed: {', '.join(sorted(unknown))}.")
    with transaction.atomic():
        template = EmailTemplate.objects.select_for_update().get(pk=template_id)
        email_template_check(template, changes)
        before, after = changed_fields(template, changes)
        if not after:
            return TemplateUpdated(template, TemplateChange.UNCHANGED)
        for name, value in after.items():
            setattr(template, name, value)
        template.updated_at = timezone.now()
        template.save(update_fields=[*after, "updated_at"])
        audit_record(actor=actor, subject=template, action="changed", reason=reason, before=before, after=after)
    return TemplateUpdated(template, TemplateChange.CHANGED)


def email_template_preview(*, template: EmailTemplate, values: dict[str, Any] | None = None) -> RenderedEmail:
    """The template (or the unsaved `values` of its parts) rendered on its sample data. Raises ValidationError
    like a save would."""
    values = values or {}
    parts = {part: values.get(part, getattr(template, part)) for part in PARTS}
    template_check(parts, allowed=template_allowed_variables(template))
    return _sample_render(template, parts)


def email_templates_seed(model=EmailTemplate) -> int:
    """Write each default template (catalog + templates/emails/) that has no row yet; an edited one is kept.
    `model` lets the data migration pass its historical model. Returns how many were written."""
    existing = set(model.objects.values_list("name", flat=True))
    rows = []
    for spec in TEMPLATES.values():
        if spec.name in existing:
            continue
        subject, body_text, body_html = template_files(spec.name)
        rows.append(
            model(
                name=spec.name,
                event=spec.event,
                description=spec.description,
                subject=subject,
                body_text=body_text,
                body_html=body_html,
            )
        )
    model.objects.bulk_create(rows)
    return len(rows)
