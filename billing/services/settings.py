"""The billing settings and the payment gateways' configurations, as an admin edits them: each edit is locked,
checked, saved field by field and logged with what changed (a secret only as set, changed or cleared)."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction

from billing.gateway_models import GatewayConfig
from billing.gateways import GATEWAY_CLASSES
from billing.models import BillingSettings
from billing.services.changes import changes_described
from billing.services.numbering import number_format_validate
from notifications.services import Actor, activity_record

BILLING_SETTING_FIELDS = (
    "invoice_number_format",
    "number_on_payment",
    "taxes_enabled",
    "prices_include_tax",
    "compound_tax",
    "auto_apply_credit",
    "bank_transfer_instructions",
)


def _unknown(changes: dict, allowed: tuple[str, ...], what: str) -> None:
    unknown = set(changes) - set(allowed)
    if unknown:
        raise ValidationError(f"These {what} cannot be changed here: {', '.join(sorted(unknown))}.")


def billing_settings_validate(changes: dict[str, Any]) -> dict[str, Any]:
    """The changes as they would be stored, or ValidationError (per field) for what is refused."""
    _unknown(changes, BILLING_SETTING_FIELDS, "billing settings")
    cleaned = dict(changes)
    if "invoice_number_format" in cleaned:
        cleaned["invoice_number_format"] = str(cleaned["invoice_number_format"]).strip()
        try:
            number_format_validate(cleaned["invoice_number_format"])
        except ValidationError as refused:
            raise ValidationError({"invoice_number_format": refused.messages}) from None
    return cleaned


def billing_settings_update(*, changes: dict[str, Any], actor: Actor) -> BillingSettings:
    """Change some billing settings, under the row's lock; logged with each change before and after."""
    cleaned = billing_settings_validate(changes)
    with transaction.atomic():
        BillingSettings.load()
        row = BillingSettings.objects.select_for_update().get(pk=1)
        before = {field: getattr(row, field) for field in BILLING_SETTING_FIELDS}
        for field, value in cleaned.items():
            setattr(row, field, value)
        row.full_clean()
        after = {field: getattr(row, field) for field in BILLING_SETTING_FIELDS}
        changed = [field for field in BILLING_SETTING_FIELDS if after[field] != before[field]]
        if not changed:
            return row
        row.save(update_fields=[*changed, "updated_at"])
        activity_record(
            actor=actor,
            action="billing_settings_changed",
            subject=row,
            message="Billing settings changed: " + changes_described(before, after, fields=changed),
        )
    return row


GATEWAY_CONFIG_FIELDS = ("display_name", "enabled", "sort_order", "settings")


def _gateway_config_check(config: GatewayConfig, *, creating: bool) -> None:
    # A row whose implementation was removed can still be renamed, disabled or deleted; none is made for one.
    if creating and config.code not in GATEWAY_CLASSES:
        raise ValidationError({"code": [f"No gateway implements {config.code!r}."]})
    if not isinstance(config.settings, dict) or not all(
        isinstance(key, str) and isinstance(value, str) for key, value in config.settings.items()
    ):
        raise ValidationError({"settings": ["A gateway's settings are names with text values."]})
    config.display_name = config.display_name.strip()
    config.full_clean()


def _gateway_values(config: GatewayConfig) -> dict[str, Any]:
    values = {field: getattr(config, field) for field in GATEWAY_CONFIG_FIELDS if field != "settings"}
    values.update({f"setting {key}": value for key, value in (config.settings or {}).items()})
    return values


def _gateway_secrets(config: GatewayConfig) -> set[str]:
    gateway_class = GATEWAY_CLASSES.get(config.code)
    return {f"setting {key}" for key in gateway_class.secret_fields} if gateway_class else set()


def gateway_config_validate(*, code: str, changes: dict[str, Any], config_id: int | None = None) -> None:
    """Refuse what gateway_config_update (or, without config_id, gateway_config_create) would refuse."""
    _unknown(changes, GATEWAY_CONFIG_FIELDS, "gateway settings")
    config = GatewayConfig.objects.get(pk=config_id) if config_id else GatewayConfig(code=code)
    for field, value in changes.items():
        setattr(config, field, value)
    _gateway_config_check(config, creating=config_id is None)


def gateway_config_create(*, code: str, changes: dict[str, Any], actor: Actor) -> GatewayConfig:
    """The configuration row of an implemented gateway that has none yet (the migration seeds them all)."""
    _unknown(changes, GATEWAY_CONFIG_FIELDS, "gateway settings")
    with transaction.atomic():
        if GatewayConfig.objects.filter(code=code).exists():
            raise ValidationError({"code": [f"{code!r} is configured already."]})
        config = GatewayConfig(code=code, **changes)
        _gateway_config_check(config, creating=True)
        config.save()
        activity_record(
            actor=actor,
            action="gateway_config_created",
            subject=config,
            message=f"Payment gateway {config} configured: "
            + changes_described(
                {}, _gateway_values(config), fields=_gateway_values(config), secret=_gateway_secrets(config)
            ),
        )
    return config


def gateway_config_update(*, config_id: int, changes: dict[str, Any], actor: Actor) -> GatewayConfig:
    """Change a gateway's configuration under its row's lock; logged before and after, secrets only as set,
    changed or cleared."""
    _unknown(changes, GATEWAY_CONFIG_FIELDS, "gateway settings")
    with transaction.atomic():
        try:
            config = GatewayConfig.objects.select_for_update().get(pk=config_id)
        except GatewayConfig.DoesNotExist:
            raise ValidationError(f"There is no gateway configuration #{config_id}.") from None
        before = _gateway_values(config)
        for field, value in changes.items():
            setattr(config, field, value)
        _gateway_config_check(config, creating=False)
        after = _gateway_values(config)
        if after == before:
            return config
        changed = [field for field in GATEWAY_CONFIG_FIELDS if field != "settings" and after[field] != before[field]]
        if any(key.startswith("setting ") and before.get(key) != after.get(key) for key in {*before, *after}):
            changed.append("settings")
        config.save(update_fields=changed)
        activity_record(
            actor=actor,
            action="gateway_config_changed",
            subject=config,
            message=f"Payment gateway {config} changed: "
            + changes_described(
                before,
                after,
                fields=list(dict.fromkeys([*before, *after])),
                secret=_gateway_secrets(config),
            ),
        )
    return config
