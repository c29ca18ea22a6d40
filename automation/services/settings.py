"""The automation settings: every rule about what an admin may set lives in automation_settings_validate, which
both the service and the admin form call; every change goes through automation_settings_update, which logs it."""

from __future__ import annotations

import datetime
import re
from collections import defaultdict
from decimal import Decimal
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.text import capfirst

from automation.beat import daily_run_schedule
from automation.cycles import billing_cycles
from automation.models import AutomationSettings
from core.money import MONEY_DECIMAL_PLACES, MONEY_LIMIT, format_rate, quantize
from notifications.services import Actor, activity_record

# Every field an admin sets; updated_at and the primary key are the row's own.
SETTING_FIELDS = tuple(
    field.name
    for field in AutomationSettings._meta.get_fields()
    if field.concrete and not field.primary_key and field.name != "updated_at"
)

# Ten years: longer than any billing cycle we sell, and far inside a small integer column.
MAX_DAYS = 3650
MAX_REMINDER_LEVELS = 20
MAX_DOMAIN_RENEWAL_NOTICES = 5
MAX_LATE_FEES = 100
# The longest template name an outbound email row can store.
MAX_TEMPLATE_LENGTH = 64
TEMPLATE_NAME = re.compile(r"^[a-z0-9_]+$")


def renewing_cycles() -> tuple[str, ...]:
    """The billing cycles that have lead days to override: one-time purchases never renew. Billing registers its
    cycles at start-up (automation.cycles), so this is read when a setting is checked, not when this is imported."""
    return billing_cycles().renewing


DAY_COUNTS = {
    # field: the least value allowed
    "invoice_lead_days": 0,
    "late_fee_after_days": 0,
    "late_fee_repeat_days": 0,
    "suspend_after_days": 0,
    "terminate_after_days": 0,
    "cancel_unpaid_orders_after_days": 1,
}
SWITCHES = (
    "combined_invoicing",
    "continuous_invoicing",
    "late_fee_enabled",
    "suspend_enabled",
    "suspend_email",
    "unsuspend_on_payment",
    "terminate_enabled",
    "cancel_unpaid_orders_enabled",
)
AMOUNTS = ("late_fee_amount", "late_fee_minimum")


def _label(name: str) -> str:
    return capfirst(AutomationSettings._meta.get_field(name).verbose_name)


def _is_whole_number(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _whole_number_error(value: Any, *, minimum: int, maximum: int, what: str) -> str | None:
    if not _is_whole_number(value):
        return f"{capfirst(what)} must be a whole number."
    if value < minimum:
        return f"{capfirst(what)} cannot be {'negative' if minimum == 0 else f'less than {minimum}'}: {value}."
    if value > maximum:
        return f"{capfirst(what)} can be at most {maximum}: {value}."
    return None


def _amount_error(value: Any) -> str | None:
    if not isinstance(value, Decimal) or not value.is_finite():
        return "Give the amount as a decimal number, e.g. 5.00."
    if value < 0:
        return f"The amount cannot be negative: {value}."
    if value >= MONEY_LIMIT:
        return f"The amount must be less than {MONEY_LIMIT:,}."
    if value != quantize(value):
        return f"Use at most {MONEY_DECIMAL_PLACES} decimal places: {value}."
    return None


def _reminder_level_errors(levels: Any) -> list[str]:
    if not isinstance(levels, list):
        return ["Reminder levels must be a list of levels, each with days and a template."]
    errors = []
    if len(levels) > MAX_REMINDER_LEVELS:
        errors.append(f"At most {MAX_REMINDER_LEVELS} reminder levels: {len(levels)} were given.")
    seen_days: set[int] = set()
    for number, level in enumerate(levels, start=1):
        if not isinstance(level, dict) or set(level) != {"days", "template"}:
            errors.append(f"Level {number}: give exactly the days and the template, e.g. -7 invoice_reminder_upcoming.")
            continue
        days, template = level["days"], level["template"]
        days_error = _whole_number_error(days, minimum=-MAX_DAYS, maximum=MAX_DAYS, what=f"the days of level {number}")
        if days_error:
            errors.append(days_error)
        elif days in seen_days:
            errors.append(f"Two reminder levels are set for day {days}: each day can have only one level.")
        else:
            seen_days.add(days)
        if not isinstance(template, str) or not template:
            errors.append(f"Level {number}: name the email template to send.")
        elif not TEMPLATE_NAME.match(template):
            errors.append(
                f"Level {number}: the template name {template!r} may hold only lower-case letters, digits and "
                "underscores, e.g. invoice_overdue_first."
            )
        elif len(template) > MAX_TEMPLATE_LENGTH:
            errors.append(f"Level {number}: the template name can be at most {MAX_TEMPLATE_LENGTH} characters.")
    return errors


def _lead_days_errors(overrides: Any) -> list[str]:
    if not isinstance(overrides, dict):
        return ["Lead days by billing cycle must map billing cycles to days, e.g. annually 30."]
    errors = []
    cycles = billing_cycles()
    for cycle, days in overrides.items():
        if cycle not in cycles.renewing:
            errors.append(
                f"{cycle!r} is not a billing cycle that renews: use {', '.join(cycles.renewing)}."
                if cycle not in cycles.never_renewing
                else "One-time purchases never renew, so they have no lead days."
            )
            continue
        days_error = _whole_number_error(days, minimum=0, maximum=MAX_DAYS, what=f"the lead days for {cycle}")
        if days_error:
            errors.append(days_error)
    return errors


def _renewal_notice_errors(notice_days: Any) -> list[str]:
    if not isinstance(notice_days, list):
        return ["Domain renewal notices must be a list of days before expiry, e.g. 30, 7."]
    errors = []
    if len(notice_days) > MAX_DOMAIN_RENEWAL_NOTICES:
        errors.append(f"At most {MAX_DOMAIN_RENEWAL_NOTICES} domain renewal notices: {len(notice_days)} were given.")
    for days in notice_days:
        days_error = _whole_number_error(days, minimum=1, maximum=MAX_DAYS, what="a renewal notice")
        if days_error:
            errors.append(days_error)
    whole = [days for days in notice_days if _is_whole_number(days)]
    repeated = sorted({days for days in whole if whole.count(days) > 1}, reverse=True)
    if repeated:
        errors.append(f"Each renewal notice needs its own day: {', '.join(map(str, repeated))} is given twice.")
    return errors


def automation_settings_validate(values: dict[str, Any]) -> None:
    """Refuse settings the automation run could not follow, with a message per field.

    `values` holds the settings by field name. The service passes every setting; the admin form passes what it
    could read, so a setting that is missing is not checked (the form has already said what is wrong with it).
    """
    errors: dict[str, list[str]] = defaultdict(list)

    def check(name: str, error: str | None) -> None:
        if name in values and error:
            errors[name].append(error)

    if "time_of_day" in values and not isinstance(values["time_of_day"], datetime.time):
        errors["time_of_day"].append("Give a time of day, e.g. 03:00.")
    for name in SWITCHES:
        check(name, None if isinstance(values.get(name), bool) else "Must be on or off.")
    for name, minimum in DAY_COUNTS.items():
        check(name, _whole_number_error(values.get(name), minimum=minimum, maximum=MAX_DAYS, what=_label(name)))
    check(
        "late_fee_max_count",
        _whole_number_error(
            values.get("late_fee_max_count"), minimum=1, maximum=MAX_LATE_FEES, what=_label("late_fee_max_count")
        ),
    )
    for name in AMOUNTS:
        check(name, _amount_error(values.get(name)))
    check(
        "late_fee_type",
        None
        if values.get("late_fee_type") in AutomationSettings.LateFeeType.values
        else f"Choose {' or '.join(AutomationSettings.LateFeeType.values)}.",
    )
    if "lead_days_by_cycle" in values:
        errors["lead_days_by_cycle"] += _lead_days_errors(values["lead_days_by_cycle"])
    if "reminder_levels" in values:
        errors["reminder_levels"] += _reminder_level_errors(values["reminder_levels"])
    if "domain_renewal_notice_days" in values:
        errors["domain_renewal_notice_days"] += _renewal_notice_errors(values["domain_renewal_notice_days"])

    def valid(*names: str) -> bool:
        return all(name in values and not errors.get(name) for name in names)

    if valid("late_fee_type", "late_fee_amount"):
        amount = values["late_fee_amount"]
        if values["late_fee_type"] == AutomationSettings.LateFeeType.PERCENT and amount > 100:
            errors["late_fee_amount"].append(f"A percent late fee can be at most 100%, not {format_rate(amount)}.")
    if valid("late_fee_enabled", "late_fee_amount") and values["late_fee_enabled"] and not values["late_fee_amount"]:
        errors["late_fee_amount"].append("Late fees are on but the fee is 0: set an amount or turn late fees off.")
    if (
        valid("suspend_enabled", "terminate_enabled", "suspend_after_days", "terminate_after_days")
        and values["suspend_enabled"]
        and values["terminate_enabled"]
        and values["terminate_after_days"] <= values["suspend_after_days"]
    ):
        errors["terminate_after_days"].append(
            f"Termination must come after suspension: terminating after {values['terminate_after_days']} days "
            f"overdue does not come after suspending after {values['suspend_after_days']} days. Set more days, "
            "or turn suspension off."
        )

    errors = {name: messages for name, messages in errors.items() if messages}
    if errors:
        raise ValidationError(errors)


def automation_settings_values(row: AutomationSettings) -> dict[str, Any]:
    return {name: getattr(row, name) for name in SETTING_FIELDS}


def _normalized(values: dict[str, Any]) -> dict[str, Any]:
    """The settings as they are stored: money at its places, levels by days, notices latest first."""
    cycle_order = list(renewing_cycles())
    return {
        **values,
        **{name: quantize(values[name]) for name in AMOUNTS},
        "reminder_levels": sorted(
            ({"days": level["days"], "template": level["template"]} for level in values["reminder_levels"]),
            key=lambda level: level["days"],
        ),
        "lead_days_by_cycle": dict(
            sorted(values["lead_days_by_cycle"].items(), key=lambda item: cycle_order.index(item[0]))
        ),
        "domain_renewal_notice_days": sorted(values["domain_renewal_notice_days"], reverse=True),
    }


def reminder_levels_text(levels: list[dict]) -> str:
    """The levels as an admin types them, one `days template` per line."""
    return "\n".join(f"{level['days']} {level['template']}" for level in sorted(levels, key=lambda lv: lv["days"]))


def lead_days_text(overrides: dict[str, int]) -> str:
    """The overrides as an admin types them, one `cycle days` per line, in the order of the cycles."""
    known = [cycle for cycle in billing_cycles().every if cycle in overrides]
    return "\n".join(f"{cycle} {overrides[cycle]}" for cycle in [*known, *sorted(set(overrides) - set(known))])


def renewal_notice_text(notice_days: list[int]) -> str:
    return ", ".join(str(days) for days in notice_days)


def _shown(name: str, value: Any) -> str:
    """A setting's value as the activity log shows it."""
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, datetime.time):
        return value.strftime("%H:%M:%S" if value.second else "%H:%M")
    if name == "reminder_levels":
        return reminder_levels_text(value).replace("\n", ", ") or "none"
    if name == "lead_days_by_cycle":
        return lead_days_text(value).replace("\n", ", ") or "none"
    if name == "domain_renewal_notice_days":
        return renewal_notice_text(value) or "none"
    if name == "late_fee_type":
        return AutomationSettings.LateFeeType(value).label
    return str(value)


def automation_settings_update(*, actor: Actor, **changes: Any) -> AutomationSettings:
    """Change some settings. The whole result is checked, saved and logged as one activity row naming the actor
    and each change (`label: old → new`); a change that changes nothing saves and logs nothing."""
    unknown = sorted(set(changes) - set(SETTING_FIELDS))
    if unknown:
        raise ValidationError(f"These are not automation settings: {', '.join(unknown)}.")
    with transaction.atomic():
        AutomationSettings.objects.get_or_create(pk=1)
        row = AutomationSettings.objects.select_for_update().get(pk=1)
        before = automation_settings_values(row)
        automation_settings_validate({**before, **changes})
        after = _normalized({**before, **changes})
        changed = [name for name in SETTING_FIELDS if after[name] != before[name]]
        if not changed:
            return row
        for name in changed:
            setattr(row, name, after[name])
        row.save(update_fields=[*changed, "updated_at"])
        notes = [f"{_label(name)}: {_shown(name, before[name])} → {_shown(name, after[name])}" for name in changed]
        activity_record(
            actor=actor,
            action="automation_settings_changed",
            subject=row,
            message="Automation settings changed: " + "; ".join(notes),
        )
        if "time_of_day" in changed:
            daily_run_schedule(at=row.time_of_day)  # Celery beat starts the run at the new time
    return row
