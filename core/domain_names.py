"""Domain names as clients and admins type them: one normalisation (IDNA 2008, UTS #46 processing,
non-transitional, by the `idna` package, as registries apply it) and the mixed-script labels the fraud check is
told about. In core because checkout (orders) and the admin's edit of a domain (provisioning) both use it."""

from __future__ import annotations

import re
import unicodedata
from typing import NamedTuple, NoReturn

import idna
from django.core.exceptions import ValidationError

MAX_NAME_LENGTH = 253  # octets of the ASCII form, without a trailing dot (RFC 1035)
MAX_LABEL_LENGTH = 63
_MAX_INPUT = 1000  # far above any name that could fit in 253 octets; idna refuses more than 1024 characters
_TLD = re.compile(r"^(?:[a-z]{2,63}|xn--[a-z0-9-]{1,59})$")


def _char(char: str) -> str:
    """A character as a message names it: 'ß' (U+00DF LATIN SMALL LETTER SHARP S); an invisible one by code only."""
    code = f"U+{ord(char):04X} {unicodedata.name(char, '')}".rstrip()
    if char.isprintable() and unicodedata.category(char) not in ("Cf", "Zs", "Mn", "Me"):
        return f"'{char}' ({code})"
    return code


def _shown(text: str) -> str:
    """Text quoted for a message, with invisible characters written as [U+200D] so the reader sees them."""
    shown = "".join(
        char if char == " " or (char.isprintable() and unicodedata.category(char) != "Cf") else f"[U+{ord(char):04X}]"
        for char in text
    )
    return f"'{shown}'"


def _label_problem(error: idna.IDNAError, label: str) -> str:
    """What is wrong with a label, from the rule the idna package says it breaks."""
    code = getattr(error, "code", None)
    codepoint = getattr(error, "codepoint", None)
    char = _char(chr(codepoint)) if codepoint is not None else "a character"
    if code == "hyphen_start_end":
        return "starts with a hyphen" if label.startswith("-") else "ends with a hyphen"
    if code == "hyphen_3_4":
        return "has hyphens in its 3rd and 4th places, which are kept for encoded labels such as xn--"
    if code == "leading_combiner":
        return f"starts with the combining mark {char}"
    if code == "disallowed_codepoint":
        return f"contains {char}, which IDNA 2008 does not allow"
    if code == "contextj":
        return (
            f"contains {char} where IDNA 2008 does not allow it (a zero-width joiner or non-joiner may only follow "
            "a virama or join the letters of a joining script)"
        )
    if code == "contexto":
        return f"contains {char} where IDNA 2008 does not allow it (e.g. a middle dot only between two l's)"
    if code and code.startswith("bidi"):
        return (
            f"breaks the rule for right-to-left scripts (RFC 5893) at {char}: a label is written in one direction, "
            "and starts and ends with a letter"
        )
    return f"is refused by IDNA 2008 ({error})"


def _ascii_label(label: str, refuse) -> str:
    """The A-label (or plain ASCII label) of one mapped label, or refuse(why)."""
    if label.startswith("xn--"):
        try:
            decoded = label[4:].encode("ascii").decode("punycode")
            if not decoded or label.endswith("-"):
                raise UnicodeError("no punycode content")
        except UnicodeError:
            refuse(f"the label '{label}' is not valid punycode")
        try:
            idna.ulabel(label)
        except idna.IDNAError as error:
            if getattr(error, "code", None) == "non_canonical_alabel":
                refuse(f"the label '{label}' is not the standard punycode form of {_shown(decoded)}")
            refuse(f"the label '{label}' is punycode for {_shown(decoded)}, and that {_label_problem(error, decoded)}")
        ascii_label = label
    else:
        try:
            idna.check_label(label)
        except idna.IDNAError as error:
            refuse(f"the label {_shown(label)} {_label_problem(error, label)}")
        ascii_label = label if label.isascii() else "xn--" + label.encode("punycode").decode("ascii")
    if len(ascii_label) > MAX_LABEL_LENGTH:
        refuse(
            f"the label {_shown(label)} is too long: {len(ascii_label)} characters in its ASCII form, "
            f"at most {MAX_LABEL_LENGTH}"
        )
    return ascii_label


def normalize_domain_name(raw: str) -> str:
    """The lower-case ASCII form of a domain name (IDNs as punycode), or ValidationError saying why not.

    IDNA 2008 with UTS #46 processing, non-transitional (`idna.encode(..., uts46=True)`): letters are lower-cased and
    width variants folded as UTS #46 maps them, `straße.de` stays `xn--strae-oqa.de`. What UTS #46 would silently
    drop (a soft hyphen, a zero-width space) is refused instead: the name typed is not the name registered. So is
    whatever IDNA 2008 refuses: invalid punycode, disallowed characters, a joiner out of context, a label over 63
    characters, an empty label, a hyphen at either end. A trailing dot is dropped."""
    name = raw.strip()
    if not name:
        raise ValidationError("Enter a domain name, e.g. example.com.")

    def refuse(why: str) -> NoReturn:
        raise ValidationError(f"{_shown(name)} is not a valid domain name: {why}.")

    if len(name) > _MAX_INPUT:
        refuse(f"it is {len(name)} characters long, and a domain name has at most {MAX_NAME_LENGTH}")
    for char in dict.fromkeys(name):
        try:
            mapped = idna.uts46_remap(char, std3_rules=True)
        except idna.IDNAError:
            refuse(f"{_char(char)} is not allowed in a domain name (letters, digits and hyphens are)")
        if not mapped:
            refuse(f"it contains {_char(char)}, an invisible character IDNA 2008 does not allow")
    mapped_name = idna.uts46_remap(name, std3_rules=True)
    if mapped_name.endswith("."):
        mapped_name = mapped_name[:-1]
    labels = mapped_name.split(".")
    if len(labels) < 2:
        refuse("it needs a name and an extension, e.g. example.com")
    if "" in labels:
        refuse("it has an empty part (two dots in a row, or a dot at the start)")
    ascii_labels = [_ascii_label(label, refuse) for label in labels]
    ascii_name = ".".join(ascii_labels)
    if len(ascii_name) > MAX_NAME_LENGTH:
        refuse(f"it is {len(ascii_name)} characters long in its ASCII form, at most {MAX_NAME_LENGTH}")
    if not _TLD.match(ascii_labels[-1]):
        refuse(f"the extension '{ascii_labels[-1]}' is not a domain extension (letters only, e.g. com)")
    try:  # the package has the last word: nothing it refuses gets through
        encoded = idna.encode(mapped_name, uts46=True, std3_rules=True).decode("ascii")
    except idna.IDNAError as error:
        refuse(f"IDNA 2008 refuses it ({error})")
    if encoded != ascii_name:  # our reading and the package's must agree
        refuse(f"IDNA 2008 reads it as '{encoded}'")
    return ascii_name


# --- Mixed scripts ---------------------------------------------------------------------------------------------

# UTS #39's "highly restrictive" level: a label is in one script, or mixes Latin only with scripts written
# together in Japanese, Chinese or Korean. Anything else (Latin with Cyrillic or Greek, ...) is a look-alike risk.
_ALLOWED_MIXES = (
    frozenset({"Latin", "Han", "Hiragana", "Katakana"}),
    frozenset({"Latin", "Han", "Bopomofo"}),
    frozenset({"Latin", "Han", "Hangul"}),
)
# A letter's script is the first word of its Unicode name, but for these.
_SCRIPT_OF_NAME_WORD = {"CJK": "Han", "IDEOGRAPHIC": "Han"}
_TWO_WORD_SCRIPTS = {"CANADIAN", "MEETEI", "NEW", "OL", "OLD", "SYLOTI", "TAI"}
_NO_SCRIPT = {"MODIFIER", "KATAKANA-HIRAGANA"}  # shared by scripts, as digits and the hyphen are


def _script(char: str) -> str | None:
    """The script of a letter (from its Unicode name); None for digits, hyphens, marks and shared letters."""
    if not unicodedata.category(char).startswith("L"):
        return None
    words = unicodedata.name(char, "").split()
    if not words or words[0] in _NO_SCRIPT:
        return None
    if words[0] in _TWO_WORD_SCRIPTS and len(words) > 1:
        return f"{words[0]} {words[1]}".title()
    return _SCRIPT_OF_NAME_WORD.get(words[0], words[0].title())


class MixedScriptLabel(NamedTuple):
    label: str  # as the client reads it (Unicode)
    scripts: tuple[str, ...]  # sorted, e.g. ("Cyrillic", "Latin")


def mixed_script_labels(ascii_name: str) -> list[MixedScriptLabel]:
    """The labels of a normalised name (normalize_domain_name's result) whose letters mix scripts that UTS #39's
    highly restrictive level does not allow together, e.g. a Cyrillic 'a' (U+0430) in 'apple'. A pure Cyrillic
    label, or a Cyrillic label next to a Latin extension, is not mixed."""
    mixed = []
    for label in ascii_name.split("."):
        try:
            text = idna.ulabel(label) if label.startswith("xn--") else label
        except idna.IDNAError:  # stored before IDNA 2008 was enforced, or typed in the admin: nothing to read
            continue
        scripts = {script for script in map(_script, text) if script}
        if len(scripts) > 1 and not any(scripts <= allowed for allowed in _ALLOWED_MIXES):
            mixed.append(MixedScriptLabel(label=text, scripts=tuple(sorted(scripts))))
    return mixed


def domain_name_for_display(ascii_name: str) -> str:
    """The Unicode form of a normalised name, as its owner reads it (the ASCII form back if it cannot be decoded)."""
    try:
        return idna.decode(ascii_name)
    except idna.IDNAError:
        return ascii_name
