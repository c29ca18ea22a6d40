"""The lists' filters, from the query string: each parameter a lookup and a parser; a bad value is a 400 naming
the parameter, never an unfiltered list."""

from __future__ import annotations

import datetime
from collections.abc import Callable
from dataclasses import dataclass

from rest_framework.exceptions import ValidationError


@dataclass(frozen=True)
class Filter:
    lookup: str
    parse: Callable[[str], object]
    help: str


def choice(values) -> Callable[[str], str]:
    allowed = list(values)

    def parse(raw: str) -> str:
        if raw not in allowed:
            raise ValueError(f"one of {', '.join(allowed)}")
        return raw

    return parse


def an_id(raw: str) -> int:
    if not raw.isdigit() or not 0 < int(raw) < 2**63:
        raise ValueError("a positive whole number")
    return int(raw)


def a_date(raw: str) -> datetime.date:
    try:
        return datetime.date.fromisoformat(raw)
    except ValueError:
        raise ValueError("a date as YYYY-MM-DD") from None


def filtered(queryset, params, filters: dict[str, Filter]):
    wanted, refused = {}, {}
    for name, spec in filters.items():
        raw = params.get(name)
        if raw is None:
            continue
        try:
            wanted[spec.lookup] = spec.parse(raw.strip())
        except ValueError as why:
            refused[name] = [f"Give {name} as {why}."]
    if refused:
        raise ValidationError(refused)
    return queryset.filter(**wanted)
