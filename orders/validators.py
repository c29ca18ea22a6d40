import re

from django.core.exceptions import ValidationError

_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")
_TLD = re.compile(r"^(?:[a-z]{2,63}|xn--[a-z0-9-]{1,59})$")


def normalize_domain_name(raw: str) -> str:
    """Lower-case ASCII (punycode) form of a domain name, or ValidationError saying what is wrong with it."""
    name = raw.strip().lower().rstrip(".")
    if not name:
        raise ValidationError("Enter a domain name, e.g. example.com.")
    try:
        ascii_name = name.encode("idna").decode("ascii")
    except UnicodeError as exc:
        raise ValidationError(f"{raw!r} is not a valid domain name.") from exc
    labels = ascii_name.split(".")
    if len(ascii_name) > 253 or len(labels) < 2:
        raise ValidationError(
            f"{raw!r} is not a valid domain name: it needs a name and an extension, e.g. example.com."
        )
    if not all(_LABEL.match(label) for label in labels[:-1]) or not _TLD.match(labels[-1]):
        raise ValidationError(
            f"{raw!r} is not a valid domain name: use letters, digits and hyphens, "
            "with no hyphen at either end of a part."
        )
    return ascii_name
