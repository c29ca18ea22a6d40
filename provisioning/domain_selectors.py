"""Reads about TLDs and registrars: which TLD a name falls under, its prices in a currency, the storefront's price
list, and a registrar's configured settings with its secrets decrypted (for a call's RegistrarContext). A fixed
number of queries whatever the number of names."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.db.models import Prefetch

from billing.models import Currency
from core import crypto
from provisioning.models import RegistrarConfig, Tld, TldPrice


def extension_candidates(name: str) -> list[str]:
    """The extensions a name could be sold under, longest first: shop.example.co.uk -> example.co.uk, co.uk, uk.
    The first label is always the name's own."""
    labels = name.split(".")
    return [".".join(labels[index:]) for index in range(1, len(labels))]


def tlds_for_names(*, names: Iterable[str], currency: Currency | None = None) -> dict[str, Tld]:
    """The TLD each name falls under (the longest extension that has a row), with `currency_prices` (its prices in
    `currency`, by years) when a currency is given. Names under no TLD are left out. Two queries at most."""
    names = list(dict.fromkeys(names))
    candidates = {name: extension_candidates(name) for name in names}
    wanted = {extension for extensions in candidates.values() for extension in extensions}
    if not wanted:
        return {}
    rows = Tld.objects.filter(extension__in=sorted(wanted))
    if currency is not None:
        rows = rows.prefetch_related(
            Prefetch(
                "prices",
                queryset=TldPrice.objects.filter(currency=currency).order_by("years"),
                to_attr="prices_in_currency",
            )
        )
    by_extension = {tld.extension: tld for tld in rows}
    found: dict[str, Tld] = {}
    for name, extensions in candidates.items():
        tld = next((by_extension[extension] for extension in extensions if extension in by_extension), None)
        if tld is not None:
            if currency is not None:
                tld.currency_prices = {price.years: price for price in tld.prices_in_currency}
            found[name] = tld
    return found


def tld_price_list(*, currency: Currency) -> list[tuple[Tld, list[TldPrice]]]:
    """The active TLDs with their prices in a currency, by extension and years; TLDs not priced in it are left out.
    Two queries whatever the number of TLDs."""
    tlds = Tld.objects.filter(is_active=True).prefetch_related(
        Prefetch(
            "prices",
            queryset=TldPrice.objects.filter(currency=currency).order_by("years"),
            to_attr="prices_in_currency",
        )
    )
    return [(tld, tld.prices_in_currency) for tld in tlds if tld.prices_in_currency]


@dataclass(frozen=True)
class RegistrarSettings:
    """A registrar's settings for a call: the plain ones and the secrets, decrypted. `configured` is False when no
    RegistrarConfig row exists (the registrar's declared defaults apply); `active` False: switched off."""

    name: str
    values: dict[str, Any]
    configured: bool
    active: bool


def registrar_settings(*, names: Iterable[str]) -> dict[str, RegistrarSettings]:
    """Each named registrar's settings, one query for all. Raises core.crypto.SecretUnreadable when a stored
    secret cannot be decrypted with the current keys."""
    names = sorted(set(names))
    configs = {config.name: config for config in RegistrarConfig.objects.filter(name__in=names)}
    found = {}
    for name in names:
        config = configs.get(name)
        if config is None:
            found[name] = RegistrarSettings(name=name, values={}, configured=False, active=True)
            continue
        secrets = crypto.decrypt_json(config.credentials_token) if config.credentials_token else {}
        found[name] = RegistrarSettings(
            name=name, values={**(config.settings or {}), **secrets}, configured=True, active=config.is_active
        )
    return found
