"""Build a MaxMind-format GeoIP database from a CSV, with `mmdb-writer`: for tests, demos and own IP data.

CSV columns, in this order (a header row starting with "network" is skipped, as are blank lines and lines
starting with #):

    network,country,region,city,latitude,longitude,asn,as_org,is_anonymous,is_hosting

Only network (CIDR, IPv4 or IPv6; a bare address is a /32 or /128) and country (ISO 3166 code) are required.
Records use the GeoLite2/GeoIP2 keys, so one file serves as City, ASN and Anonymous IP database at once:
country.iso_code, subdivisions[0].iso_code (or .names.en for a region name), city.names.en,
location.latitude/longitude, autonomous_system_number/organization, is_anonymous + is_anonymous_vpn
(is_anonymous column) and is_anonymous + is_hosting_provider (is_hosting column).

Where networks overlap, the more specific one wins whatever the row order. The database is written next to
the output path and renamed over it, so a running portal never reads a half-written file.
"""

from __future__ import annotations

import csv
import ipaddress
import logging
import os
import re
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mmdb_writer import MMDBWriter
from netaddr import IPNetwork, IPSet

from fraud.countries import COUNTRY_NAMES

COLUMNS = (
    "network",
    "country",
    "region",
    "city",
    "latitude",
    "longitude",
    "asn",
    "as_org",
    "is_anonymous",
    "is_hosting",
)
MAX_REPORTED_ERRORS = 20
_TRUE, _FALSE = {"1", "true", "yes", "y", "t"}, {"0", "false", "no", "n", "f", ""}
_REGION_CODE = re.compile(r"^[A-Z0-9]{1,3}$")
_MAX_ASN = 2**32 - 1


class GeoIPCsvError(Exception):
    """The CSV has bad rows; each error names its line. Nothing was written."""

    def __init__(self, errors: list[tuple[int, str]], more: int = 0):
        self.errors, self.more = errors, more
        lines = [f"row {row}: {message}" for row, message in errors]
        if more:
            lines.append(f"... and {more} more bad rows")
        super().__init__("\n".join(lines))


@dataclass(frozen=True)
class NetworkRecord:
    network: ipaddress.IPv4Network | ipaddress.IPv6Network
    country: str
    region: str = ""
    city: str = ""
    latitude: float | None = None
    longitude: float | None = None
    asn: int | None = None
    as_org: str = ""
    is_anonymous: bool = False
    is_hosting: bool = False
    row: int = 0

    def to_mmdb(self) -> dict[str, Any]:
        """The record in the GeoLite2/GeoIP2 shape that fraud.geoip reads."""
        country: dict[str, Any] = {"iso_code": self.country}
        if self.country in COUNTRY_NAMES:
            country["names"] = {"en": COUNTRY_NAMES[self.country]}
        record: dict[str, Any] = {"country": country}
        if self.region:
            region_key = (
                ("iso_code", self.region) if _REGION_CODE.match(self.region) else ("names", {"en": self.region})
            )
            record["subdivisions"] = [dict([region_key])]
        if self.city:
            record["city"] = {"names": {"en": self.city}}
        if self.latitude is not None and self.longitude is not None:
            record["location"] = {"latitude": self.latitude, "longitude": self.longitude}
        if self.asn is not None:
            record["autonomous_system_number"] = self.asn
            if self.as_org:
                record["autonomous_system_organization"] = self.as_org
        if self.is_anonymous or self.is_hosting:
            record["is_anonymous"] = True  # as in GeoIP2 Anonymous IP: set whenever a more specific flag is
        if self.is_anonymous:
            record["is_anonymous_vpn"] = True
        if self.is_hosting:
            record["is_hosting_provider"] = True
        return record


class _RowError(ValueError):
    pass


def _flag(value: str, column: str) -> bool:
    lowered = value.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise _RowError(f"{column} {value!r} is not a yes/no value (use 1/0, true/false or yes/no)")


def _coordinate(value: str, column: str, limit: int) -> float | None:
    if not value.strip():
        return None
    try:
        number = float(value)
    except ValueError:
        raise _RowError(f"{column} {value!r} is not a number") from None
    if not -limit <= number <= limit:  # also refuses nan and inf
        raise _RowError(f"{column} {value!r} is outside -{limit}..{limit}")
    return number


def _parse_row(cells: list[str], row: int) -> NetworkRecord:
    if len(cells) > len(COLUMNS):
        raise _RowError(f"{len(cells)} columns, at most {len(COLUMNS)} expected ({','.join(COLUMNS)})")
    values = dict(zip(COLUMNS, [cell.strip() for cell in cells], strict=False))
    network_text = values.get("network", "")
    try:
        network = ipaddress.ip_network(network_text, strict=True)
    except ValueError as exc:
        raise _RowError(f"network {network_text!r} is not a CIDR network ({exc})") from None
    country = values.get("country", "").upper()
    if not country:
        raise _RowError("country is missing")
    if not re.fullmatch(r"[A-Z]{2}", country):
        raise _RowError(f"country {values['country']!r} is not a two-letter ISO 3166 code")
    region = values.get("region", "")
    if region.upper().startswith(f"{country}-"):  # DE-BY: GeoIP stores the part after the country
        region = region[3:]
    latitude = _coordinate(values.get("latitude", ""), "latitude", 90)
    longitude = _coordinate(values.get("longitude", ""), "longitude", 180)
    if (latitude is None) != (longitude is None):
        raise _RowError("latitude and longitude go together: give both or neither")
    asn_text = values.get("asn", "").upper().removeprefix("AS")
    asn = None
    if asn_text:
        if not asn_text.isdigit() or not 0 < int(asn_text) <= _MAX_ASN:
            raise _RowError(f"asn {values['asn']!r} is not an AS number (1 to {_MAX_ASN})")
        asn = int(asn_text)
    return NetworkRecord(
        network=network,
        country=country,
        region=region,
        city=values.get("city", ""),
        latitude=latitude,
        longitude=longitude,
        asn=asn,
        as_org=values.get("as_org", ""),
        is_anonymous=_flag(values.get("is_anonymous", ""), "is_anonymous"),
        is_hosting=_flag(values.get("is_hosting", ""), "is_hosting"),
        row=row,
    )


def _data_rows(lines: Iterable[str]) -> Iterator[tuple[int, list[str]]]:
    reader = csv.reader(lines)
    header_possible = True  # the header may follow comment or blank lines, but no data row
    for cells in reader:
        if not cells or not "".join(cells).strip() or cells[0].lstrip().startswith("#"):
            continue
        if header_possible and cells[0].strip().lower() == "network":
            header_possible = False
            continue
        header_possible = False
        yield reader.line_num, cells


def read_networks_csv(path: str | os.PathLike) -> list[NetworkRecord]:
    """Every row of the CSV as a record; raises GeoIPCsvError naming each bad row (the first 20)."""
    records: list[NetworkRecord] = []
    errors: list[tuple[int, str]] = []
    more = 0
    first_row_of: dict[Any, int] = {}
    try:
        with open(path, newline="", encoding="utf-8-sig") as lines:
            for row, cells in _data_rows(lines):
                try:
                    record = _parse_row(cells, row)
                    if record.network in first_row_of:
                        raise _RowError(f"network {record.network} is already on row {first_row_of[record.network]}")
                except _RowError as exc:
                    if len(errors) < MAX_REPORTED_ERRORS:
                        errors.append((row, str(exc)))
                    else:
                        more += 1
                    continue
                first_row_of[record.network] = row
                records.append(record)
    except UnicodeDecodeError as exc:
        raise GeoIPCsvError([(0, f"the file is not UTF-8 text ({exc.reason} at byte {exc.start})")]) from None
    except csv.Error as exc:
        raise GeoIPCsvError([(0, f"the file is not valid CSV ({exc})")]) from None
    if errors:
        raise GeoIPCsvError(errors, more)
    return records


def write_database(
    records: Iterable[NetworkRecord], output: str | os.PathLike, *, description: str = "hostbill-portal GeoIP"
) -> int:
    """Write the records to `output` as a MaxMind DB; returns the number of networks written.

    An IPv6 database (IPv4 networks at ::a.b.c.d/96+n, where MaxMind readers look for them) when any network is
    IPv6; otherwise a smaller, faster-to-build IPv4 database, in which IPv6 lookups find nothing.
    """
    records = list(records)
    ip_version = 6 if any(record.network.version == 6 for record in records) else 4
    writer = MMDBWriter(
        ip_version=ip_version,
        ipv4_compatible=ip_version == 6,
        database_type="hostbill-portal-City-ASN-Anonymous-IP",
        languages=["en"],
        description=description,
    )

    def specificity(record: NetworkRecord) -> int:
        offset = 96 if ip_version == 6 and record.network.version == 4 else 0
        return record.network.prefixlen + offset

    # Supernets first: mmdb-writer splits an existing network for a later, more specific one, but a later
    # supernet would overwrite the subnets already inserted.
    leaf_values: dict[tuple, dict[str, Any]] = {}
    writer_log = logging.getLogger("mmdb_writer")
    level = writer_log.level
    writer_log.setLevel(logging.WARNING)  # it logs every subnet it splits out of a supernet at INFO
    try:
        for record in sorted(records, key=specificity):
            value = record.to_mmdb()
            # Equal records share one value object, which keeps the writer's data section small.
            value = leaf_values.setdefault(_frozen(value), value)
            network = IPNetwork((int(record.network.network_address), record.network.prefixlen), record.network.version)
            writer.insert_network(IPSet([network]), value)
    finally:
        writer_log.setLevel(level)

    output = Path(output)
    handle, temporary = tempfile.mkstemp(prefix=f".{output.name}.", suffix=".tmp", dir=output.parent)
    os.close(handle)
    try:
        writer.to_db_file(temporary)
        os.chmod(temporary, 0o644)
        os.replace(temporary, output)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return len(records)


def _frozen(value: Any) -> Any:
    if isinstance(value, dict):
        return tuple((key, _frozen(item)) for key, item in value.items())
    if isinstance(value, list):
        return tuple(_frozen(item) for item in value)
    return value
