"""What the portal takes from outside, checked in one place: ids (in URLs and gateway payloads) and text typed
into a client-area form. Plumbing without a business rule, in core because every app's views and admin build
on it."""

from __future__ import annotations

import re
import unicodedata

from django import forms
from django.core.exceptions import ValidationError

# The largest id a BigAutoField holds (a signed 64-bit integer): beyond it, SQLite's driver raises
# OverflowError on a hand-written query instead of finding nothing.
ID_MAX = 2**63 - 1
_ASCII_ID = re.compile(r"[0-9]{1,19}")

# Newline, carriage return (browsers send a textarea's lines as CRLF) and tab are what a textarea may hold.
MULTILINE_ALLOWED = frozenset("\n\r\t")


def id_parse(raw: object) -> int | None:
    """The id written in `raw` (ASCII digits only, 1..ID_MAX), or None. Stricter than str.isdigit(), which is true
    of "²" and other digits int() refuses."""
    if not isinstance(raw, str) or not _ASCII_ID.fullmatch(raw):
        return None
    value = int(raw)
    return value if 1 <= value <= ID_MAX else None


class IdConverter:
    """`<id:invoice_id>` in a URL: an id a database can hold, else the URL does not match (a 404)."""

    regex = "[0-9]+"

    def to_python(self, value: str) -> int:
        parsed = id_parse(value)
        if parsed is None:
            raise ValueError(f"{value!r} is not an id")  # Django's resolver reads this as "no match"
        return parsed

    def to_url(self, value: int) -> str:
        return str(value)


def control_characters(text: str, *, multiline: bool) -> list[str]:
    """The control characters (Unicode category Cc: NUL, escape, C1 codes...) in `text`, in order, once each;
    a multi-line text may hold newlines and tabs."""
    found: list[str] = []
    for char in text:
        allowed = multiline and char in MULTILINE_ALLOWED
        if unicodedata.category(char) == "Cc" and not allowed and char not in found:
            found.append(char)
    return found


def text_validate(text: str, *, multiline: bool = False, what: str = "This text") -> None:
    """Refuse text holding control characters: PostgreSQL cannot store NUL, and the others would reach the
    admin, the emails and the logs as they are."""
    found = control_characters(text, multiline=multiline)
    if found:
        names = ", ".join(f"U+{ord(char):04X}" for char in found[:3])
        allowed = " (line breaks and tabs are fine)" if multiline else ""
        raise ValidationError(
            f"{what} holds control characters ({names}){allowed}: remove them and try again.",
            code="control_characters",
        )


class PlainTextField(forms.CharField):
    """The client area's text input: a CharField that refuses control characters with a form error. Single-line
    by default; `multiline=True` (a textarea) also takes newlines and tabs."""

    def __init__(self, *, multiline: bool = False, **kwargs) -> None:
        self.multiline = multiline
        super().__init__(**kwargs)

    def validate(self, value: str) -> None:
        super().validate(value)
        if value:
            text_validate(value, multiline=self.multiline, what="This field")
