"""An admin edits a service or a domain: the fields a person may correct by hand, checked as the rest of the
portal checks them, saved under the row's lock and logged with who changed what. A status is never edited: it
moves only through the item's actions (accept, cancel, suspend, ...), which are FSM transitions."""

from __future__ import annotations

import datetime
import json
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction

from billing.cycles import BillingCycle
from billing.money import MONEY_DECIMAL_PLACES, MONEY_LIMIT
from core.domain_names import mixed_script_labels, normalize_domain_name
from core.inputs import text_validate
from notifications.services import Actor
from provisioning.models import Domain, Server, Service
from provisioning.services.billing_dates import billing_dates_set
from provisioning.services.common import UNSET, item_log
from provisioning.services.domains import domain_save

# The fields an admin may change by hand; the dates go through billing_dates_set (the billing day follows them).
SERVICE_EDITABLE = (
    "server",
    "billing_cycle",
    "recurring_amount",
    "first_payment_amount",
    "module",
    "module_settings",
    "domain",
    "username",
    "registration_date",
    "next_due_date",
)
DOMAIN_EDITABLE = (
    "name",
    "registration_type",
    "registration_period",
    "registrar",
    "recurring_amount",
    "first_payment_amount",
    "registration_date",
    "expiry_date",
    "next_due_date",
)
_DATES = ("registration_date", "next_due_date")
_MONEY = ("recurring_amount", "first_payment_amount")
_TEXT = ("module", "username", "registrar")
MAX_REGISTRATION_YEARS = 10  # the longest registration period registries accept


@dataclass(frozen=True)
class FieldChange:
    name: str
    before: Any
    after: Any


@dataclass(frozen=True)
class ItemUpdated:
    """What an admin's save changed; empty when the values were already those."""

    changes: tuple[FieldChange, ...]

    @property
    def changed(self) -> bool:
        return bool(self.changes)


def _refuse_unknown(model: type[Service] | type[Domain], changes: dict[str, Any], editable: tuple[str, ...]) -> None:
    for name in changes:
        if name in editable:
            continue
        if name == "status":
            raise ValidationError(
                {name: f"The status of a {model._meta.verbose_name} moves only through its actions, not by editing."}
            )
        raise ValidationError({name: f"The {name.replace('_', ' ')} of a {model._meta.verbose_name} is not edited."})


def _money(name: str, value: Any) -> Decimal:
    label = name.replace("_", " ").capitalize()
    if not isinstance(value, Decimal) or not value.is_finite():
        raise ValidationError({name: f"{label} must be a decimal amount."})
    if value < 0:
        raise ValidationError({name: f"{label} cannot be negative."})
    if value >= MONEY_LIMIT or value != value.quantize(Decimal(1).scaleb(-MONEY_DECIMAL_PLACES)):
        raise ValidationError(
            {name: f"{label} must be below {MONEY_LIMIT:,} with at most {MONEY_DECIMAL_PLACES} decimal places."}
        )
    return value


def _domain_name(name: str, raw: str) -> str:
    """As checkout reads it: IDNA 2008 normalised; a label mixing scripts (a look-alike) is refused here, where no
    fraud check follows."""
    try:
        normalized = normalize_domain_name(raw)
    except ValidationError as refused:
        raise ValidationError({name: refused.messages}) from None
    if mixed := mixed_script_labels(normalized):
        label = mixed[0]
        raise ValidationError(
            {
                name: f"'{label.label}' mixes {' and '.join(label.scripts)} letters, the way look-alike names do: "
                "a domain name here is in one script (or Latin with Chinese, Japanese or Korean)."
            }
        )
    return normalized


def _checked(item: Service | Domain, changes: dict[str, Any]) -> dict[str, Any]:
    """The changes, normalised, or ValidationError naming the field it refuses."""
    checked: dict[str, Any] = {}
    for name, value in changes.items():
        if name in _MONEY:
            value = _money(name, value)
        elif name in _TEXT:
            value = (value or "").strip()
            try:
                text_validate(value, what=name.replace("_", " ").capitalize())
            except ValidationError as refused:
                raise ValidationError({name: refused.messages}) from None
        elif name == "billing_cycle" and value not in BillingCycle.values:
            raise ValidationError({name: f"{value!r} is not a billing cycle."})
        elif name == "domain":
            value = _domain_name(name, value) if (value or "").strip() else ""
        elif name == "name":
            value = _domain_name(name, value)
        elif name == "registration_type" and value not in Domain.RegistrationType.values:
            raise ValidationError({name: f"{value!r} is not a registration type."})
        elif name == "registration_period" and (not isinstance(value, int) or not 1 <= value <= MAX_REGISTRATION_YEARS):
            raise ValidationError({name: f"The registration period is 1 to {MAX_REGISTRATION_YEARS} years."})
        elif name == "module_settings" and not isinstance(value, dict):
            raise ValidationError({name: "Module settings are a JSON object."})
        elif name == "server" and value is not None and not isinstance(value, Server):
            raise ValidationError({name: "Choose a server, or none."})
        elif name in (*_DATES, "expiry_date") and value is not None and not isinstance(value, datetime.date):
            raise ValidationError({name: "Enter a date."})
        elif name == "registration_date" and value is None:
            raise ValidationError({name: "A registration date is required."})
        checked[name] = value
    if isinstance(item, Domain) and checked.get("name", item.name) != item.name and item.status in Domain.LIVE_STATUSES:
        taken = Domain.objects.filter(name=checked["name"], status__in=Domain.LIVE_STATUSES).exclude(pk=item.pk)
        if taken.exists():
            raise ValidationError({"name": f"{checked['name']} is already ordered or registered here."})
    return checked


def _value(item: Service | Domain, name: str) -> Any:
    return item.server if name == "server" else getattr(item, name)


def _shown(value: Any) -> str:
    if value is None or value == "":
        return "none"
    if isinstance(value, dict):
        return json.dumps(value, sort_keys=True)
    return str(value)


def item_changes_validate(item: Service | Domain, changes: dict[str, Any]) -> dict[str, Any]:
    """Check an admin's changes to this service or domain as its *_update will (the admin form calls it to show a
    refusal on the field); returns them normalised. Raises ValidationError, keyed by field."""
    _refuse_unknown(type(item), changes, SERVICE_EDITABLE if isinstance(item, Service) else DOMAIN_EDITABLE)
    return _checked(item, changes)


def _item_update(
    model: type[Service] | type[Domain], *, pk: int, actor: Actor, due_date_seen: Any, changes: dict[str, Any]
) -> ItemUpdated:
    _refuse_unknown(model, changes, SERVICE_EDITABLE if model is Service else DOMAIN_EDITABLE)
    kind = model._meta.verbose_name
    with transaction.atomic():
        item = model.objects.select_for_update(of=("self",)).select_related("product").get(pk=pk)
        checked = _checked(item, changes)
        plain = {name: value for name, value in checked.items() if name not in _DATES and value != _value(item, name)}
        dates = {name: value for name, value in checked.items() if name in _DATES and value != getattr(item, name)}
        before = {name: getattr(item, name) for name in dates}
        if dates:  # locks the row again (the same transaction), moves the billing day with it and logs the move
            billing_dates_set(model, pk=pk, actor=actor, due_date_seen=due_date_seen, **dates)
        done = [FieldChange(name, before[name], dates[name]) for name in dates]
        if plain:
            olds = {name: _value(item, name) for name in plain}
            for name, value in plain.items():
                setattr(item, name, value)
            update_fields = [model._meta.get_field(name).attname for name in plain]
            if model is Domain:
                domain_save(item, update_fields=update_fields)  # the one-live-row-per-name key, worded
            else:
                item.save(update_fields=update_fields)
            notes = "; ".join(f"{n.replace('_', ' ')}: {_shown(olds[n])} → {_shown(plain[n])}" for n in plain)
            item_log(actor, f"{model._meta.model_name}_changed", item, f"{kind.capitalize()} {item} changed: {notes}")
            done += [FieldChange(name, olds[name], plain[name]) for name in plain]
    return ItemUpdated(changes=tuple(done))


def service_update(*, service_id: int, actor: Actor, due_date_seen: Any = UNSET, **changes: Any) -> ItemUpdated:
    """An admin changes fields of a service (SERVICE_EDITABLE): locked, checked (money a Decimal and not negative,
    a domain name normalised as checkout does, no status), saved and logged: one activity row naming who changed
    which fields from what to what; the dates through billing_dates_set, which logs its own. `due_date_seen` is
    the due date the admin's page showed (see billing_dates_set). A refusal (ValidationError) changes nothing."""
    return _item_update(Service, pk=service_id, actor=actor, due_date_seen=due_date_seen, changes=changes)


def domain_update(*, domain_id: int, actor: Actor, due_date_seen: Any = UNSET, **changes: Any) -> ItemUpdated:
    """service_update for a domain (DOMAIN_EDITABLE): its name as checkout takes one (IDNA 2008, one script, one
    live row per name)."""
    return _item_update(Domain, pk=domain_id, actor=actor, due_date_seen=due_date_seen, changes=changes)
