"""`manage.py build_geoip_db input.csv output.mmdb`: a MaxMind database from a CSV, clear errors for bad rows."""

import io
import subprocess
import sys
from pathlib import Path

import maxminddb
import pytest
from django.core.management import CommandError, call_command

from tests.fraud.conftest import build_database

ROOT = Path(__file__).resolve().parent.parent.parent


def _build(tmp_path, csv_text):
    source = tmp_path / "networks.csv"
    source.write_text(csv_text)
    call_command("build_geoip_db", str(source), str(tmp_path / "out.mmdb"), stdout=io.StringIO())


def test_builds_a_database_with_ipv4_and_ipv6_networks_in_the_geolite2_shape(tmp_path):
    path = build_database(
        tmp_path,
        "network,country,region,city,latitude,longitude,asn,as_org,is_anonymous,is_hosting\n"
        "81.2.69.0/24,gb,GB-ENG,London,51.5074,-0.1278,AS20712,Andrews & Arnold Ltd,no,yes\n"
        "2001:db8::/32,NL\n",
    )
    reader = maxminddb.open_database(str(path))
    assert reader.metadata().ip_version == 6
    assert reader.get("81.2.69.1") == {
        "country": {"iso_code": "GB", "names": {"en": "United Kingdom"}},
        "subdivisions": [{"iso_code": "ENG"}],
        "city": {"names": {"en": "London"}},
        "location": {"latitude": 51.5074, "longitude": -0.1278},
        "autonomous_system_number": 20712,
        "autonomous_system_organization": "Andrews & Arnold Ltd",
        "is_anonymous": True,
        "is_hosting_provider": True,
    }
    assert reader.get("2001:db8::1") == {"country": {"iso_code": "NL", "names": {"en": "Netherlands"}}}
    assert reader.get("81.2.70.1") is None


def test_more_specific_network_wins_whatever_the_row_order(tmp_path):
    path = build_database(tmp_path, "10.1.2.0/24,FR\n10.0.0.0/8,DE\n2001:db8:1::/48,FR\n2001:db8::/32,DE\n")
    reader = maxminddb.open_database(str(path))
    assert [
        reader.get(ip)["country"]["iso_code"] for ip in ("10.1.2.3", "10.9.9.9", "2001:db8:1::5", "2001:db8:2::5")
    ] == [
        "FR",
        "DE",
        "FR",
        "DE",
    ]


def test_comments_and_blank_lines_are_skipped(tmp_path):
    path = build_database(tmp_path, "# demo networks\n\n81.2.69.0/24,GB\n")
    assert maxminddb.open_database(str(path)).get("81.2.69.1")["country"]["iso_code"] == "GB"


def test_a_header_after_comment_lines_is_skipped(tmp_path):
    path = build_database(tmp_path, "# demo networks\n\nnetwork,country\n81.2.69.0/24,GB\n")
    assert maxminddb.open_database(str(path)).get("81.2.69.1")["country"]["iso_code"] == "GB"


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ("81.2.69.1/24,GB", "row 2: network '81.2.69.1/24' is not a CIDR network (81.2.69.1/24 has host bits set)"),
        ("not-a-network,GB", "row 2: network 'not-a-network' is not a CIDR network"),
        ("81.2.69.0/24,", "row 2: country is missing"),
        ("81.2.69.0/24,GBR", "row 2: country 'GBR' is not a two-letter ISO 3166 code"),
        ("81.2.69.0/24,GB,,,95,0", "row 2: latitude '95' is outside -90..90"),
        ("81.2.69.0/24,GB,,,51.5,", "row 2: latitude and longitude go together: give both or neither"),
        ("81.2.69.0/24,GB,,,north,0", "row 2: latitude 'north' is not a number"),
        ("81.2.69.0/24,GB,,,,,12ab", "row 2: asn '12ab' is not an AS number (1 to 4294967295)"),
        ("81.2.69.0/24,GB,,,,,,,maybe", "row 2: is_anonymous 'maybe' is not a yes/no value"),
        ("81.2.69.0/24,GB,,,,,,,0,0,extra", "row 2: 11 columns, at most 10 expected"),
    ],
)
def test_bad_row_is_reported_with_its_row_number_and_nothing_is_written(tmp_path, row, message):
    with pytest.raises(CommandError) as raised:
        _build(tmp_path, f"10.0.0.0/8,DE\n{row}\n")
    assert message in str(raised.value)
    assert "no database was written" in str(raised.value)
    assert not (tmp_path / "out.mmdb").exists()


def test_duplicate_network_names_the_first_row(tmp_path):
    with pytest.raises(CommandError, match=r"row 4: network 10.0.0.0/8 is already on row 2"):
        _build(tmp_path, "network,country\n10.0.0.0/8,DE\n81.2.69.0/24,GB\n10.0.0.0/8,FR\n")


def test_every_bad_row_is_reported(tmp_path):
    with pytest.raises(CommandError) as raised:
        _build(tmp_path, "x,DE\n10.0.0.0/8,DE\ny,FR\n")
    assert "row 1: network 'x'" in str(raised.value) and "row 3: network 'y'" in str(raised.value)


def test_empty_csv_writes_nothing(tmp_path):
    with pytest.raises(CommandError, match="holds no networks"):
        _build(tmp_path, "network,country\n")


def test_missing_csv_is_a_clear_error(tmp_path):
    with pytest.raises(CommandError, match="does not exist"):
        call_command("build_geoip_db", str(tmp_path / "none.csv"), str(tmp_path / "out.mmdb"))


def test_bad_row_from_the_command_line_prints_the_error_without_a_traceback(tmp_path):
    source = tmp_path / "networks.csv"
    source.write_text("network,country\n81.2.69.0/24,GB\n300.1.1.0/24,GB\n")
    finished = subprocess.run(
        [sys.executable, "manage.py", "build_geoip_db", str(source), str(tmp_path / "out.mmdb")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert finished.returncode == 1
    assert "row 3: network '300.1.1.0/24' is not a CIDR network" in finished.stderr
    assert "Traceback" not in finished.stderr


def test_existing_database_is_replaced_atomically(tmp_path):
    path = build_database(tmp_path, "81.2.69.0/24,DE\n")
    before = path.stat().st_ino
    build_database(tmp_path, "81.2.69.0/24,GB\n")
    assert path.stat().st_ino != before
    assert maxminddb.open_database(str(path)).get("81.2.69.1")["country"]["iso_code"] == "GB"
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []
