"""What the portal takes from outside: ids parsed strictly, text without control characters."""

import pytest
from django.core.exceptions import ValidationError

from core.inputs import ID_MAX, PlainTextField, id_parse


@pytest.mark.parametrize(
    ("raw", "parsed"),
    [
        ("1", 1),
        ("007", 7),
        (str(ID_MAX), ID_MAX),
        (str(ID_MAX + 1), None),  # beyond a BigAutoField
        ("0", None),
        ("-1", None),
        ("²", None),  # "²".isdigit() is true; int() refuses it
        ("١٢", None),  # Arabic-Indic digits: int() takes them, no id of ours is written so
        (" 1", None),
        ("1e3", None),
        ("", None),
        ("9" * 5000, None),
        (12, None),  # not text
        (None, None),
    ],
)
def test_an_id_is_ascii_digits_within_the_database_range(raw, parsed):
    assert id_parse(raw) == parsed


@pytest.mark.parametrize("text", ["NUL\x00", "\x1b[31m", "bell\x07", "\x7f", "C\x851", "a\nb", "a\tb", "a\rb"])
def test_a_single_line_text_refuses_every_control_character(text):
    with pytest.raises(ValidationError, match="holds control characters"):
        PlainTextField().clean(text)


def test_a_multi_line_text_takes_line_breaks_and_tabs_but_no_other_control_character():
    field = PlainTextField(multiline=True)
    assert field.clean("one\r\n\ttwo") == "one\r\n\ttwo"
    with pytest.raises(ValidationError, match=r"\(U\+0000, U\+001B\) \(line breaks and tabs are fine\)"):
        field.clean("one\x00\x1b\x00\ntwo")


def test_other_unicode_is_plain_text():
    assert PlainTextField().clean("Zoë Łódź 東京 ²") == "Zoë Łódź 東京 ²"
