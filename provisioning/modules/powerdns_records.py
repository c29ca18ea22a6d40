"""A DNS hosting product's default records, as an admin writes them (one a line, "NAME TTL TYPE CONTENT", with
"@" for the zone itself), checked and turned into the rrsets of the PowerDNS HTTP API for one zone.

    @ 3600 A 192.0.2.10
    www 3600 CNAME @
    @ 3600 MX 10 mail.@
    @ 3600 TXT "v=spf1 mx -all"

Only the record types below, only names inside the zone, and content each type's rule allows: a line that does
not fit is refused with its number, before anything reaches a server."""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass

MIN_TTL, MAX_TTL = 60, 604800
# A relative owner name: "@", or labels of letters, digits, hyphens and underscores (_dmarc, _sip._tcp), with an
# optional leading "*" label for a wildcard.
_OWNER = re.compile(
    r"^(?:@|(?:\*\.)?(?:[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?)(?:\.[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?)*|\*)$"
)
# A target host: "@", "label.@" (inside the zone) or an absolute name ending with a dot.
_LABELS = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*"
_TARGET = re.compile(rf"^(?:@|{_LABELS}\.@|{_LABELS}\.)$")
_TXT = re.compile(r'^"(?:[^"\\]|\\.){0,255}"(?: "(?:[^"\\]|\\.){0,255}")*$')
_CAA = re.compile(r'^(?:0|128) (?:issue|issuewild|iodef) "[\x21-\x7e ]{0,255}"$')
TYPES = ("A", "AAAA", "CNAME", "MX", "TXT", "SRV", "CAA")


class RecordsInvalid(ValueError):
    pass


@dataclass(frozen=True)
class DefaultRecord:
    owner: str  # as written: "@", "www"
    ttl: int
    type: str
    content: str  # as written, "@" not yet expanded

    def name_in(self, zone: str) -> str:
        """The owner's absolute name in zone (zone ends with a dot)."""
        return zone if self.owner == "@" else f"{self.owner}.{zone}"

    def content_in(self, zone: str) -> str:
        """The content with "@" (the zone) expanded, as PowerDNS takes it."""
        if self.type in ("CNAME", "MX", "SRV"):
            *rest, target = self.content.split(" ")
            return " ".join([*rest, _expand(target, zone)])
        return self.content


def _expand(target: str, zone: str) -> str:
    if target == "@":
        return zone
    if target.endswith(".@"):
        return target[:-1] + zone
    return target


def _check_content(record_type: str, content: str) -> None:
    fields = content.split(" ")
    if record_type == "A":
        if not _is_ip(content, ipaddress.IPv4Address):
            raise RecordsInvalid("an A record needs an IPv4 address, e.g. 192.0.2.10")
    elif record_type == "AAAA":
        if not _is_ip(content, ipaddress.IPv6Address):
            raise RecordsInvalid("an AAAA record needs an IPv6 address, e.g. 2001:db8::10")
    elif record_type == "CNAME":
        if len(fields) != 1 or not _TARGET.match(content):
            raise RecordsInvalid('a CNAME needs one target: "@", "name.@" or an absolute name ending with a dot')
    elif record_type == "MX":
        if len(fields) != 2 or not _is_number(fields[0], 65535) or not _TARGET.match(fields[1]):
            raise RecordsInvalid('an MX record needs a priority and a host, e.g. "10 mail.@"')
    elif record_type == "SRV":
        if (
            len(fields) != 4
            or not all(_is_number(field, 65535) for field in fields[:3])
            or not _TARGET.match(fields[3])
        ):
            raise RecordsInvalid('an SRV record needs priority, weight, port and target, e.g. "10 5 5060 sip.@"')
    elif record_type == "TXT":
        if not _TXT.match(content):
            raise RecordsInvalid('a TXT record needs its text in double quotes, e.g. "v=spf1 mx -all"')
    elif record_type == "CAA" and not _CAA.match(content):
        raise RecordsInvalid('a CAA record needs a flag, a tag and a quoted value, e.g. 0 issue "letsencrypt.org"')


def _is_ip(text: str, kind) -> bool:
    try:
        kind(text)
    except ValueError:
        return False
    return True


def _is_number(text: str, maximum: int) -> bool:
    return text.isascii() and text.isdigit() and int(text) <= maximum


def parse_default_records(text: str) -> list[DefaultRecord]:
    """The records of the setting's text, or RecordsInvalid naming the first line that is wrong and why."""
    records = []
    ttl_of: dict[tuple[str, str], int] = {}
    for number, line in enumerate((text or "").splitlines(), start=1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if not line.isascii() or any(ord(char) < 32 for char in line):
            raise RecordsInvalid(f"line {number}: only printable ASCII is allowed")
        parts = line.split(None, 3)
        if len(parts) != 4:
            raise RecordsInvalid(f'line {number}: write "NAME TTL TYPE CONTENT", e.g. "@ 3600 A 192.0.2.10"')
        owner, ttl_text, record_type, content = parts
        owner, record_type = owner.lower(), record_type.upper()
        content = " ".join(content.split()) if record_type != "TXT" else content.strip()
        if not _OWNER.match(owner) or len(owner) > 200:
            raise RecordsInvalid(
                f'line {number}: the name {owner!r} is not a name inside the zone ("@" for the zone itself, '
                'or labels such as "www" or "_dmarc")'
            )
        if not _is_number(ttl_text, MAX_TTL) or int(ttl_text) < MIN_TTL:
            raise RecordsInvalid(f"line {number}: the TTL must be a number of seconds from {MIN_TTL} to {MAX_TTL}")
        if record_type not in TYPES:
            raise RecordsInvalid(f"line {number}: the type {record_type!r} is not offered (use {', '.join(TYPES)})")
        try:
            _check_content(record_type, content if record_type in ("TXT", "CAA") else content.lower())
        except RecordsInvalid as error:
            raise RecordsInvalid(f"line {number}: {error}") from None
        key = (owner, record_type)
        if ttl_of.setdefault(key, int(ttl_text)) != int(ttl_text):
            raise RecordsInvalid(f"line {number}: the {record_type} records of {owner!r} need one TTL, as one set")
        record = DefaultRecord(
            owner, int(ttl_text), record_type, content if record_type in ("TXT", "CAA") else content.lower()
        )
        if record in records:
            raise RecordsInvalid(f"line {number}: the same record is written twice")
        if record_type == "CNAME" and any(r.owner == owner and r.type == "CNAME" for r in records):
            raise RecordsInvalid(f"line {number}: {owner!r} can have only one CNAME")
        records.append(record)
    owners_with_cname = {record.owner for record in records if record.type == "CNAME"}
    clash = [record for record in records if record.owner in owners_with_cname and record.type != "CNAME"]
    if clash or "@" in owners_with_cname:
        owner = clash[0].owner if clash else "@"
        raise RecordsInvalid(f"{owner!r} has a CNAME, so it can have no other record (nor can the zone itself)")
    return records


def rrsets_for(records: list[DefaultRecord], zone: str) -> list[dict]:
    """The API's rrsets for the records in zone (ending with a dot): one per name and type, in the order written."""
    rrsets: dict[tuple[str, str], dict] = {}
    for record in records:
        rrset = rrsets.setdefault(
            (record.name_in(zone), record.type),
            {"name": record.name_in(zone), "type": record.type, "ttl": record.ttl, "records": []},
        )
        rrset["records"].append({"content": record.content_in(zone), "disabled": False})
    return list(rrsets.values())
