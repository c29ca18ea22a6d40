"""What an edit changed, as the activity log keeps it: each changed field with its value before and after."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any


def changes_described(
    before: dict[str, Any], after: dict[str, Any], *, fields: Iterable[str], secret: Iterable[str] = ()
) -> str:
    """`label: before → after` for each field whose value changed, joined by "; ". A secret is never written
    out: only that it was set, changed or cleared."""
    secret = set(secret)
    notes = []
    for name in fields:
        old, new = before.get(name), after.get(name)
        if old == new:
            continue
        label = name.replace("_", " ")
        if name in secret:
            notes.append(f"{label}: {'set' if not old else 'cleared' if not new else 'changed'}")
        else:
            notes.append(f"{label}: {_shown(old)} → {_shown(new)}")
    return "; ".join(notes)


def _shown(value: Any) -> str:
    if value is None or value == "":
        return "(empty)"
    return str(value)
