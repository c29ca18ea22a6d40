"""GeoIP facts for an IP address, read from local MaxMind-format databases (GeoLite2/GeoIP2 or our own builds).

Readers are opened once per process, through the `maxminddb` C extension where it is installed, and opened
again when a file's size, mtime or inode changes. A database that is not configured, missing or unreadable
is reported as a warning sentence; it never raises. Replace a database by writing a new file and renaming it
over the old one (as `build_geoip_db` does): a reader maps the file into memory, and a file truncated in place
under a live mapping can crash the process.
"""

from __future__ import annotations

import ipaddress
import logging
import os
import threading
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

import maxminddb
from django.conf import settings

logger = logging.getLogger(__name__)

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# A request's address is never longer than this; longer strings are rejected before parsing.
MAX_IP_STRING_LENGTH = 64


# --- The IP address as sent with the order ------------------------------------------------------------------


@dataclass(frozen=True)
class IPFacts:
    """What the raw IP string from the request turned out to be. `problem` is empty for a valid address."""

    raw: str | None
    address: str | None = None
    version: int | None = None
    scope: str = ""
    problem: str = ""

    @property
    def is_valid(self) -> bool:
        return self.address is not None

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "is_valid": self.is_valid}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> IPFacts:
        return cls(**{name: data.get(name) for name in ("raw", "address", "version", "scope", "problem")})


def _scope(address: IPAddress) -> str:
    if address.is_loopback:
        return "loopback"
    if address.is_link_local:
        return "link-local"
    if address.is_multicast:
        return "multicast"
    if address.is_unspecified:
        return "unspecified"
    if address.is_private:
        return "private"
    if address.is_reserved:
        return "reserved"
    return "global" if address.is_global else "not globally routable"


def parse_ip(raw: object) -> tuple[IPFacts, IPAddress | None]:
    """Parse the IP string sent with an order. A malformed value is a fact with a reason, never an exception.

    IPv4-mapped IPv6 addresses (::ffff:192.0.2.1, what a dual-stack socket reports) become the IPv4 address,
    since GeoIP databases file IPv4 networks under IPv4. An IPv6 zone (fe80::1%eth0) is dropped.
    """
    if raw is None:
        return IPFacts(raw=None, problem="No IP address was recorded with the order."), None
    if not isinstance(raw, str):
        return IPFacts(raw=repr(raw)[:MAX_IP_STRING_LENGTH], problem="The IP address is not text."), None
    if len(raw) > MAX_IP_STRING_LENGTH:
        shown = raw[:MAX_IP_STRING_LENGTH] + "…"
        return IPFacts(raw=shown, problem=f"The IP address is longer than {MAX_IP_STRING_LENGTH} characters."), None
    text = raw.strip()
    if not text:
        return IPFacts(raw=raw, problem="The IP address is empty."), None
    try:
        address = ipaddress.ip_address(text.split("%", 1)[0] if ":" in text else text)
    except ValueError:
        return IPFacts(raw=raw, problem=f"{text!r} is not a valid IPv4 or IPv6 address."), None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return IPFacts(raw=raw, address=str(address), version=address.version, scope=_scope(address)), address


# --- What the databases say about an address ---------------------------------------------------------------


@dataclass(frozen=True)
class GeoIPFacts:
    """The GeoIP facts the rules used. `available` is False when no database answered for this address,
    `unavailable_reason` says why (no database, no record, malformed address)."""

    available: bool = False
    unavailable_reason: str = ""
    network: str = ""
    country_code: str = ""
    country_name: str = ""
    region_code: str = ""
    region_name: str = ""
    city: str = ""
    latitude: float | None = None
    longitude: float | None = None
    accuracy_radius_km: int | None = None
    asn: int | None = None
    as_organization: str = ""
    is_anonymous: bool = False
    is_anonymous_vpn: bool = False
    is_public_proxy: bool = False
    is_tor_exit_node: bool = False
    is_residential_proxy: bool = False
    is_hosting_provider: bool = False
    databases: tuple[str, ...] = ()

    @property
    def has_location(self) -> bool:
        return self.latitude is not None and self.longitude is not None

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["databases"] = list(self.databases)
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> GeoIPFacts:
        known = {name: data[name] for name in cls.__dataclass_fields__ if name in data}
        known["databases"] = tuple(known.get("databases", ()))
        return cls(**known)


@dataclass(frozen=True)
class GeoIPLookup:
    facts: GeoIPFacts
    # Sentences about databases that could not be used, e.g. "GeoIP database missing: ...; GeoIP rules skipped."
    warnings: tuple[str, ...] = ()


# --- Opening databases ----------------------------------------------------------------------------------------


class DatabaseKind:
    CITY = "City/Country"
    ASN = "ASN"
    ANONYMOUS = "Anonymous IP"


SETTING_FOR_KIND = {
    DatabaseKind.CITY: "FRAUD_GEOIP_CITY_DB",
    DatabaseKind.ASN: "FRAUD_GEOIP_ASN_DB",
    DatabaseKind.ANONYMOUS: "FRAUD_GEOIP_ANONYMOUS_DB",
}


@dataclass
class _OpenedDatabase:
    signature: tuple[int, int, int, int] | None
    reader: Any = None
    problem: str = ""  # why the file cannot be used; empty when the reader is usable
    state: str = "ok"


_opened: dict[str, _OpenedDatabase] = {}
_opening_lock = threading.Lock()


def _signature(stat: os.stat_result) -> tuple[int, int, int, int]:
    return (stat.st_dev, stat.st_ino, stat.st_size, stat.st_mtime_ns)


def _database(path: str) -> _OpenedDatabase:
    """The reader for `path`, opened on first use and again when the file changed; a problem if it cannot be."""
    try:
        signature = _signature(os.stat(path))
    except FileNotFoundError:
        return _OpenedDatabase(signature=None, state="missing", problem=f"{path} does not exist")
    except OSError as exc:
        return _OpenedDatabase(signature=None, state="unreadable", problem=f"{path} cannot be read ({exc.strerror})")
    opened = _opened.get(path)
    if opened is not None and opened.signature == signature:
        return opened
    with _opening_lock:
        opened = _opened.get(path)
        if opened is not None and opened.signature == signature:
            return opened
        try:
            reader = maxminddb.open_database(path, maxminddb.MODE_AUTO)
        except (OSError, ValueError, RuntimeError) as exc:  # InvalidDatabaseError is a RuntimeError
            logger.warning("GeoIP database %s cannot be opened: %s", path, exc)
            opened = _OpenedDatabase(
                signature=signature, state="unreadable", problem=f"{path} is not a readable MaxMind database"
            )
        else:
            if _opened.get(path) is not None:
                logger.info("GeoIP database %s changed on disk and was reopened", path)
            # The old reader is not closed here: a lookup in another thread may still hold it. It is closed when
            # the last reference goes.
            opened = _OpenedDatabase(signature=signature, reader=reader)
        _opened[path] = opened
        return opened


def uses_c_extension(reader: Any) -> bool:
    return type(reader).__module__ == "maxminddb.extension"


# --- Reading records -------------------------------------------------------------------------------------------


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _english_name(section: Any) -> str:
    if isinstance(section, dict):
        names = section.get("names")
        if isinstance(names, dict):
            return _text(names.get("en"))
    return ""


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def _read_location(record: dict[str, Any], into: dict[str, Any]) -> None:
    country = record.get("country") if isinstance(record.get("country"), dict) else None
    # Some networks (anycast, satellite) carry only the country the block is registered to.
    country = country or (
        record.get("registered_country") if isinstance(record.get("registered_country"), dict) else None
    )
    if country and _text(country.get("iso_code")):
        into["country_code"] = country["iso_code"].upper()
        into["country_name"] = _english_name(country)
    subdivisions = record.get("subdivisions")
    if isinstance(subdivisions, list) and subdivisions and isinstance(subdivisions[0], dict):
        into["region_code"] = _text(subdivisions[0].get("iso_code"))
        into["region_name"] = _english_name(subdivisions[0])
    into["city"] = _english_name(record.get("city"))
    location = record.get("location")
    if isinstance(location, dict):
        latitude, longitude = _number(location.get("latitude")), _number(location.get("longitude"))
        if latitude is not None and longitude is not None:
            into["latitude"], into["longitude"] = latitude, longitude
        radius = location.get("accuracy_radius")
        if isinstance(radius, int) and not isinstance(radius, bool):
            into["accuracy_radius_km"] = radius


_FLAG_KEYS = (
    "is_anonymous",
    "is_anonymous_vpn",
    "is_public_proxy",
    "is_tor_exit_node",
    "is_residential_proxy",
    "is_hosting_provider",
)


def _read_network(record: dict[str, Any], into: dict[str, Any]) -> None:
    asn = record.get("autonomous_system_number")
    if isinstance(asn, int) and not isinstance(asn, bool) and "asn" not in into:
        into["asn"] = asn
        into["as_organization"] = _text(record.get("autonomous_system_organization"))
    traits = record.get("traits") if isinstance(record.get("traits"), dict) else {}
    for key in _FLAG_KEYS:
        if record.get(key) is True or traits.get(key) is True:
            into[key] = True
    # GeoIP2 City/Country files of old carried the flag as traits.is_anonymous_proxy.
    if record.get("is_anonymous_proxy") is True or traits.get("is_anonymous_proxy") is True:
        into["is_anonymous"] = into["is_public_proxy"] = True


def _network(address: IPAddress, prefix_length: int) -> str:
    """'81.2.69.0/24' for 81.2.69.10 and 24 (ipaddress.ip_network does the same, several times slower)."""
    host_bits = address.max_prefixlen - prefix_length
    return f"{type(address)(int(address) >> host_bits << host_bits)}/{prefix_length}"


def _lookup(kind: str, path: str, address: IPAddress, warnings: list[str]) -> tuple[dict[str, Any] | None, int] | None:
    """(record or None, prefix length) from one file; None, with a warning, when the file cannot be used."""
    opened = _database(path)
    if opened.problem:
        warnings.append(_warning(kind, opened.state, opened.problem))
        return None
    try:
        record, prefix_length = opened.reader.get_with_prefix_len(address)
    except ValueError:
        # An IPv6 address asked of an IPv4-only database: that database knows nothing about it.
        return None, 0
    except RuntimeError as exc:  # InvalidDatabaseError: the file is damaged past its header
        logger.warning("GeoIP database %s failed a lookup of %s: %s", path, address, exc)
        warnings.append(_warning(kind, "unreadable", f"{path} is damaged ({exc})"))
        return None
    return (record if isinstance(record, dict) else None), prefix_length


class GeoIPLocator:
    """Looks addresses up in the configured databases. Cheap to create: readers are shared per process."""

    def __init__(self, *, city_db: str = "", asn_db: str = "", anonymous_db: str = ""):
        self.paths = {DatabaseKind.CITY: city_db, DatabaseKind.ASN: asn_db, DatabaseKind.ANONYMOUS: anonymous_db}

    @classmethod
    def from_settings(cls) -> GeoIPLocator:
        return cls(
            city_db=getattr(settings, "FRAUD_GEOIP_CITY_DB", ""),
            asn_db=getattr(settings, "FRAUD_GEOIP_ASN_DB", ""),
            anonymous_db=getattr(settings, "FRAUD_GEOIP_ANONYMOUS_DB", ""),
        )

    def locate(self, address: IPAddress) -> GeoIPLookup:
        warnings: list[str] = []
        values: dict[str, Any] = {}
        used: list[str] = []
        # One lookup per file, even if it is named for several kinds; None when the file cannot be used.
        found_in: dict[str, tuple[dict[str, Any] | None, int] | None] = {}
        for kind, path in self.paths.items():
            if not path:
                if kind == DatabaseKind.CITY:
                    warnings.append(_warning(kind, "missing", "FRAUD_GEOIP_CITY_DB is not set"))
                continue
            if path not in found_in:
                found_in[path] = _lookup(kind, path, address, warnings)
            found = found_in[path]
            if found is None or found[0] is None:
                continue
            record, prefix_length = found
            if path not in used:
                used.append(path)
            if not values.get("network") and prefix_length:
                values["network"] = _network(address, prefix_length)
            if kind == DatabaseKind.CITY:
                _read_location(record, values)
            _read_network(record, values)

        if used:
            facts = GeoIPFacts(available=True, databases=tuple(os.path.basename(path) for path in used), **values)
        elif any(found is not None for found in found_in.values()):
            facts = GeoIPFacts(unavailable_reason=f"No GeoIP record for {address}.")
        else:
            facts = GeoIPFacts(unavailable_reason="No GeoIP database could be used.")
        return GeoIPLookup(facts=facts, warnings=tuple(warnings))

    def status(self) -> list[DatabaseStatus]:
        statuses = []
        for kind, path in self.paths.items():
            if not path:
                statuses.append(DatabaseStatus(kind=kind, path="", state="not configured"))
                continue
            opened = _database(path)
            if opened.problem:
                statuses.append(
                    DatabaseStatus(
                        kind=kind, path=path, state=opened.state, warning=_warning(kind, opened.state, opened.problem)
                    )
                )
                continue
            metadata = opened.reader.metadata()
            statuses.append(
                DatabaseStatus(
                    kind=kind,
                    path=path,
                    state="ok",
                    database_type=metadata.database_type,
                    built_at=datetime.fromtimestamp(metadata.build_epoch, tz=UTC),
                    c_extension=uses_c_extension(opened.reader),
                )
            )
        return statuses


_RULES_SKIPPED = {
    DatabaseKind.CITY: "GeoIP rules skipped",
    DatabaseKind.ASN: "ASN facts skipped",
    DatabaseKind.ANONYMOUS: "anonymous and hosting network flags from it skipped",
}


def _warning(kind: str, state: str, problem: str) -> str:
    label = "GeoIP database" if kind == DatabaseKind.CITY else f"GeoIP {kind} database"
    return f"{label} {state}: {problem}; {_RULES_SKIPPED[kind]}."


@dataclass(frozen=True)
class DatabaseStatus:
    kind: str
    path: str
    state: str  # "ok", "not configured", "missing", "unreadable"
    warning: str = ""
    database_type: str = ""
    built_at: datetime | None = None
    c_extension: bool = False

    def describe(self) -> str:
        setting = SETTING_FOR_KIND[self.kind]
        if self.state == "not configured":
            return f"{self.kind}: not configured ({setting} is empty)."
        if self.state != "ok":
            return self.warning
        reader = "C extension" if self.c_extension else "pure-Python reader (slower: install maxminddb's C extension)"
        built = self.built_at.strftime("%Y-%m-%d %H:%M UTC") if self.built_at else "unknown"
        return f"{self.kind}: {self.path} ({self.database_type}, built {built}, {reader})."


def geoip_status() -> list[DatabaseStatus]:
    """The configured databases and whether each can be used, for the admin."""
    return GeoIPLocator.from_settings().status()


def geoip_warnings() -> list[str]:
    """Sentences for the admin when GeoIP rules cannot run: the City/Country database is not set, missing or
    unreadable, or a configured ASN / Anonymous IP database cannot be used."""
    warnings = []
    for status in geoip_status():
        if status.state == "not configured" and status.kind == DatabaseKind.CITY:
            warnings.append(_warning(status.kind, "missing", "FRAUD_GEOIP_CITY_DB is not set"))
        elif status.warning:
            warnings.append(status.warning)
    return warnings
