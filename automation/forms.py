"""The admin form of the automation settings: the lists (reminder levels, lead days by cycle, renewal notices) are
edited as plain text, and what was typed is checked by automation_settings_validate, the rules the service applies."""

from __future__ import annotations

import re

from django import forms
from django.core.exceptions import ValidationError
from django.core.validators import DecimalValidator, MaxValueValidator, MinValueValidator

from automation.models import AutomationSettings
from automation.services import automation_settings_validate
from automation.services.settings import (
    MAX_DOMAIN_RENEWAL_NOTICES,
    MAX_REMINDER_LEVELS,
    SETTING_FIELDS,
    lead_days_text,
    reminder_levels_text,
    renewal_notice_text,
    renewing_cycles,
)

_WHOLE_NUMBER = re.compile(r"^[+-]?[0-9]+$")


class TextListField(forms.CharField):
    """A JSON setting edited as plain text: `parse` reads what the admin typed, `format` writes the stored value
    back in the same notation, so the page shows the current value the way it is typed."""

    def __init__(self, *, rows: int = 6, **kwargs):
        kwargs.setdefault("required", False)
        kwargs.setdefault("widget", forms.Textarea(attrs={"rows": rows, "cols": 50, "spellcheck": "false"}))
        super().__init__(**kwargs)

    def prepare_value(self, value):
        return value if isinstance(value, str) or value is None else self.format(value)

    def to_python(self, value):
        return self.parse(super().to_python(value))

    def parse(self, text: str):
        raise NotImplementedError

    def format(self, value) -> str:
        raise NotImplementedError


def _lines(text: str):
    """(line number, words) of each line that is not empty."""
    for number, line in enumerate(text.splitlines(), start=1):
        if line.strip():
            yield number, line.split()


class ReminderLevelsField(TextListField):
    def parse(self, text: str) -> list[dict]:
        levels, errors = [], []
        for number, words in _lines(text):
            if len(words) != 2 or not _WHOLE_NUMBER.match(words[0]):
                errors.append(
                    f"Line {number}: write the days, a space and the template, e.g. -7 invoice_reminder_upcoming."
                )
                continue
            levels.append({"days": int(words[0]), "template": words[1]})
        if errors:
            raise ValidationError(errors)
        return levels

    def format(self, levels: list[dict]) -> str:
        return reminder_levels_text(levels)


class LeadDaysByCycleField(TextListField):
    def parse(self, text: str) -> dict[str, int]:
        overrides: dict[str, int] = {}
        errors = []
        for number, words in _lines(text):
            if len(words) != 2 or not _WHOLE_NUMBER.match(words[1]):
                errors.append(f"Line {number}: write the billing cycle, a space and the days, e.g. annually 30.")
                continue
            cycle = words[0].lower()
            if cycle in overrides:
                errors.append(f"Line {number}: {cycle} is given twice; give each billing cycle once.")
                continue
            overrides[cycle] = int(words[1])
        if errors:
            raise ValidationError(errors)
        return overrides

    def format(self, overrides: dict[str, int]) -> str:
        return lead_days_text(overrides)


class RenewalNoticeDaysField(TextListField):
    def __init__(self, **kwargs):
        kwargs.setdefault("widget", forms.TextInput(attrs={"size": 30}))
        super().__init__(**kwargs)

    def parse(self, text: str) -> list[int]:
        numbers = [part.strip() for part in text.split(",") if part.strip()]
        wrong = [number for number in numbers if not _WHOLE_NUMBER.match(number)]
        if wrong:
            raise ValidationError(
                f"{wrong[0]!r} is not a number of days: write whole numbers separated by commas, e.g. 30, 7."
            )
        return [int(number) for number in numbers]

    def format(self, notice_days: list[int]) -> str:
        return renewal_notice_text(notice_days)


class AutomationSettingsForm(forms.ModelForm):
    """The automation settings, with the lists as text. What the admin typed is checked by
    automation_settings_validate, the same rules the service applies when it saves."""

    lead_days_by_cycle = LeadDaysByCycleField(label="Lead days by billing cycle", rows=4)
    reminder_levels = ReminderLevelsField(
        label="Reminder levels",
        help_text="One level per line: the days, a space and the email template, e.g. "
        "<code>-7 invoice_reminder_upcoming</code>. Days below 0 are before the due date, 0 is the due date, "
        f"above 0 are days overdue. Up to {MAX_REMINDER_LEVELS} levels, one per day; empty: no reminders.",
    )
    domain_renewal_notice_days = RenewalNoticeDaysField(
        label="Domain renewal notices",
        help_text=f"Days before a domain expires, separated by commas, e.g. <code>30, 7</code>. Up to "
        f"{MAX_DOMAIN_RENEWAL_NOTICES} notices; empty: none.",
    )

    class Meta:
        model = AutomationSettings
        fields = SETTING_FIELDS
        # The model's help text says what the setting is for; nothing reads it yet, and the page says so.
        help_texts = {
            "suspend_email": "Email the client when the run suspends an overdue service (template service_suspended)."
        }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # The cycles are billing's, registered when the apps are ready: named here, not when this is imported.
        self.fields["lead_days_by_cycle"].help_text = (
            "One billing cycle per line with its lead days, e.g. <code>annually 30</code>. Cycles: "
            + ", ".join(renewing_cycles())
            + ". A cycle not listed uses the invoice lead days."
        )
        # The bounds of numbers are the service's rules: leave them to it, so the admin reads its messages
        # ("Suspend after days cannot be negative") rather than the form's generic ones.
        for field in self.fields.values():
            if isinstance(field, forms.IntegerField):  # DecimalField is one too
                field.validators = [
                    validator
                    for validator in field.validators
                    if not isinstance(validator, MinValueValidator | MaxValueValidator | DecimalValidator)
                ]
                field.widget.attrs.pop("min", None)
                field.widget.attrs.pop("max", None)

    def clean(self):
        cleaned = super().clean()
        try:
            automation_settings_validate({name: cleaned[name] for name in SETTING_FIELDS if name in cleaned})
        except ValidationError as error:
            self.add_error(None, error)  # a dict of field: messages, so each shows on its field
        return cleaned
