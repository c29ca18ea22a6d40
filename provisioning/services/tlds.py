"""Saving a TLD with its price table and fees, and a registrar's configuration: locked, checked (an installed
registrar, an extension as registries write it, years 1-10, amounts in the currency's precision), logged with what
changed. A refusal is a ValidationError and writes nothing."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction

from billing.models import Currency
from core import crypto
from core.domain_names import normalize_domain_name
from core.money import money_validate
from notifications.services import Actor, activity_record
from provisioning.domain_models import MAX_PERIOD_DAYS, MAX_YEARS
from provisioning.models import RegistrarConfig, Tld, TldFees, TldPrice
from provisioning.modules.base import SettingsInvalid, SettingType, settings_clean
from provisioning.registrars import registry

TLD_FIELDS = (
    "extension",
    "registrar",
    "register_when",
    "auto_renew_default",
    "epp_code_required",
    "is_active",
    "grace_period_days",
    "redemption_period_days",
)
_PERIODS = {"grace_period_days": "The grace period", "redemption_period_days": "The redemption period"}


@dataclass(frozen=True)
class TldPriceRow:
    currency_id: int
    years: int
    register_price: Decimal
    renew_price: Decimal
    transfer_price: Decimal | None = None  # None: transfers in are not offered


@dataclass(frozen=True)
class TldFeesRow:
    currency_id: int
    grace_fee: Decimal | None = None
    redemption_fee: Decimal | None = None


@dataclass(frozen=True)
class TldSaved:
    tld: Tld
    created: bool
    changed: tuple[str, ...]  # field names, "price USD 2 years", "fees EUR"


def extension_normalize(raw: str) -> str:
    """An extension as stored: lower case, no leading dot, an IDN as its A-label (".Рф" -> "xn--p1ai")."""
    text = (raw or "").strip().lstrip(".")
    if not text:
        raise ValidationError({"extension": "Enter the extension, e.g. com or co.uk."})
    try:
        return normalize_domain_name(f"x.{text}").removeprefix("x.")
    except ValidationError as invalid:
        raise ValidationError({"extension": f".{text} is not a domain extension."}) from invalid


def tld_save(
    *,
    tld_id: int | None,
    fields: dict[str, Any],
    prices: list[TldPriceRow] | None,
    fees: list[TldFeesRow] | None,
    actor: Actor,
) -> TldSaved:
    """Create (tld_id None) or update a TLD. `fields` are the TLD's own (those given are set); `prices` and `fees`,
    when given, are the whole table: a row not in them is removed, one that differs is rewritten."""
    unknown = set(fields) - set(TLD_FIELDS)
    if unknown:
        raise ValueError(f"tld_save does not set {sorted(unknown)}")
    with transaction.atomic():
        if tld_id is None:
            tld, created = Tld(), True
        else:
            tld, created = Tld.objects.select_for_update().get(pk=tld_id), False
        given = dict(fields)
        if "extension" in given:
            given["extension"] = extension_normalize(given["extension"])
        if (
            "registrar" in given
            and given["registrar"] != tld.registrar
            and registry.registrar_class(given["registrar"]) is None
        ):
            raise ValidationError({"registrar": f"No registrar is installed under the name {given['registrar']!r}."})
        for name, what in _PERIODS.items():
            if name in given:
                given[name] = _period_days(given[name], what, name)
        changed = [name for name, value in given.items() if getattr(tld, name) != value]
        for name in changed:
            setattr(tld, name, given[name])
        try:
            tld.full_clean()
        except ValidationError as invalid:
            raise ValidationError(invalid.message_dict) from None
        if created or changed:
            tld.save()
        currencies = {currency.pk: currency for currency in Currency.objects.all()}
        if prices is not None:
            changed += _prices_replace(tld, prices, currencies)
        if fees is not None:
            changed += _fees_replace(tld, fees, currencies)
        if created or changed:
            activity_record(
                actor=actor,
                action="tld_created" if created else "tld_changed",
                subject=tld,
                message=(f"Added TLD {tld}" if created else f"Changed TLD {tld}")
                + (f": {', '.join(changed)}." if changed else "."),
            )
    return TldSaved(tld, created, tuple(changed))


def _period_days(value: Any, what: str, name: str) -> int:
    """A grace or redemption period: whole days from 0 (none) to MAX_PERIOD_DAYS."""
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_PERIOD_DAYS:
        raise ValidationError({name: f"{what} is a whole number of days from 0 to {MAX_PERIOD_DAYS}, not {value!r}."})
    return value


def _amount(value: Decimal | None, currency: Currency, what: str, *, optional: bool = False) -> Decimal | None:
    if value is None:
        if optional:
            return None
        raise ValidationError(f"{what}: enter an amount.")
    money_validate(value, currency, what=what, allow_zero=True)
    return value


def _prices_replace(tld: Tld, rows: list[TldPriceRow], currencies: dict[int, Currency]) -> list[str]:
    wanted: dict[tuple[int, int], TldPriceRow] = {}
    for row in rows:
        currency = currencies.get(row.currency_id)
        if currency is None:
            raise ValidationError(f"No currency has the id {row.currency_id}.")
        if not isinstance(row.years, int) or not 1 <= row.years <= MAX_YEARS:
            raise ValidationError(f"A price is for 1 to {MAX_YEARS} years, not {row.years}.")
        label = f"{currency.code} {row.years} year{'s' if row.years > 1 else ''}"
        if (row.currency_id, row.years) in wanted:
            raise ValidationError(f"Two prices for {label}: keep one.")
        _amount(row.register_price, currency, f"The register price for {label}")
        _amount(row.renew_price, currency, f"The renew price for {label}")
        _amount(row.transfer_price, currency, f"The transfer price for {label}", optional=True)
        wanted[(row.currency_id, row.years)] = row
    stored = {(price.currency_id, price.years): price for price in TldPrice.objects.filter(tld=tld)}
    changed: list[str] = []
    gone = [price.pk for key, price in stored.items() if key not in wanted]
    if gone:
        TldPrice.objects.filter(pk__in=gone).delete()
    new, rewritten = [], []
    for key, row in wanted.items():
        values = {
            "register_price": row.register_price,
            "renew_price": row.renew_price,
            "transfer_price": row.transfer_price,
        }
        price = stored.get(key)
        if price is None:
            new.append(TldPrice(tld=tld, currency_id=row.currency_id, years=row.years, **values))
        elif any(getattr(price, name) != value for name, value in values.items()):
            for name, value in values.items():
                setattr(price, name, value)
            rewritten.append(price)
    TldPrice.objects.bulk_create(new)
    TldPrice.objects.bulk_update(rewritten, ["register_price", "renew_price", "transfer_price"])
    for currency_id, years in sorted(
        {
            *((p.currency_id, p.years) for p in new),
            *((p.currency_id, p.years) for p in rewritten),
            *(key for key in stored if key not in wanted),
        }
    ):
        changed.append(f"price {currencies[currency_id].code} {years} year{'s' if years > 1 else ''}")
    return changed


def _fees_replace(tld: Tld, rows: list[TldFeesRow], currencies: dict[int, Currency]) -> list[str]:
    wanted: dict[int, TldFeesRow] = {}
    for row in rows:
        currency = currencies.get(row.currency_id)
        if currency is None:
            raise ValidationError(f"No currency has the id {row.currency_id}.")
        if row.currency_id in wanted:
            raise ValidationError(f"Two sets of fees in {currency.code}: keep one.")
        _amount(row.grace_fee, currency, f"The grace fee in {currency.code}", optional=True)
        _amount(row.redemption_fee, currency, f"The redemption fee in {currency.code}", optional=True)
        wanted[row.currency_id] = row
    stored = {fees.currency_id: fees for fees in TldFees.objects.filter(tld=tld)}
    touched: set[int] = {currency_id for currency_id in stored if currency_id not in wanted}
    TldFees.objects.filter(tld=tld, currency_id__in=touched).delete()
    for currency_id, row in wanted.items():
        fees = stored.get(currency_id)
        if fees is None:
            TldFees.objects.create(
                tld=tld, currency_id=currency_id, grace_fee=row.grace_fee, redemption_fee=row.redemption_fee
            )
            touched.add(currency_id)
        elif (fees.grace_fee, fees.redemption_fee) != (row.grace_fee, row.redemption_fee):
            fees.grace_fee, fees.redemption_fee = row.grace_fee, row.redemption_fee
            fees.save(update_fields=["grace_fee", "redemption_fee"])
            touched.add(currency_id)
    return [f"fees {currencies[currency_id].code}" for currency_id in sorted(touched)]


# --- Registrar configurations --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RegistrarConfigSaved:
    config: RegistrarConfig
    created: bool
    changed: tuple[str, ...]  # "settings", "is_active", "secret <name>": never a secret's value


def registrar_config_save(
    *, config_id: int | None, name: str, settings: dict[str, Any], is_active: bool, actor: Actor
) -> RegistrarConfigSaved:
    """Create or update a registrar's configuration. `settings` are the registrar's declared settings as entered;
    a secret left blank keeps the stored one. The secrets are encrypted (core.crypto), the rest kept plain."""
    registrar_class = registry.registrar_class(name)
    if registrar_class is None:
        raise ValidationError({"name": f"No registrar is installed under the name {name!r}."})
    with transaction.atomic():
        if config_id is None:
            if RegistrarConfig.objects.filter(name=name).exists():
                raise ValidationError({"name": f"The {registrar_class.label} registrar is configured already."})
            config, created = RegistrarConfig(name=name), True
        else:
            config, created = RegistrarConfig.objects.select_for_update().get(pk=config_id), False
            if config.name != name:
                raise ValidationError({"name": "A configuration stays with its registrar: add one for the other."})
        stored_secrets = crypto.decrypt_json(config.credentials_token) if config.credentials_token else {}
        declared = registrar_class.settings
        secret_names = {setting.name for setting in declared if setting.type is SettingType.SECRET}
        values = {
            setting.name: (settings.get(setting.name) or stored_secrets.get(setting.name, ""))
            if setting.name in secret_names
            else settings.get(setting.name)
            for setting in declared
        }
        try:
            cleaned = settings_clean(declared, values)
        except SettingsInvalid as invalid:
            raise ValidationError(dict(invalid.errors.items())) from None
        plain = {key: value for key, value in cleaned.items() if key not in secret_names}
        secrets = {key: value for key, value in cleaned.items() if key in secret_names and value}
        changed: list[str] = []
        if (config.settings or {}) != plain:
            config.settings = plain
            changed.append("settings")
        changed += [
            f"secret {key}"
            for key in sorted(set(secrets) | set(stored_secrets))
            if secrets.get(key) != stored_secrets.get(key)
        ]
        if secrets != stored_secrets:
            config.credentials_token = crypto.encrypt_json(secrets)
        if config.is_active != is_active:
            config.is_active = is_active
            changed.append("is_active")
        if created or changed:
            config.save()
            activity_record(
                actor=actor,
                action="registrar_config_created" if created else "registrar_config_changed",
                subject=config,
                message=(f"Configured registrar {name}" if created else f"Changed registrar {name}'s configuration")
                + (f": {', '.join(changed)}." if changed else "."),
            )
    return RegistrarConfigSaved(config, created, tuple(changed))


def tld_delete(*, tld_id: int, actor: Actor) -> None:
    """Remove a TLD and its prices and fees. Its domains keep their prices and registrar (they are copied on each
    domain); new orders of the extension are priced from its product again, or refused without one."""
    with transaction.atomic():
        tld = Tld.objects.select_for_update().get(pk=tld_id)
        activity_record(actor=actor, action="tld_deleted", subject=tld, message=f"Deleted TLD {tld}.")
        tld.delete()


def registrar_config_delete(*, config_id: int, actor: Actor) -> None:
    """Remove a registrar's configuration: it is called with its declared defaults afterwards."""
    with transaction.atomic():
        config = RegistrarConfig.objects.select_for_update().get(pk=config_id)
        activity_record(
            actor=actor,
            action="registrar_config_deleted",
            subject=config,
            message=f"Deleted the configuration of registrar {config.name}.",
        )
        config.delete()
