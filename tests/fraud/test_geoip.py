"""GeoIP: databases built by the command, IPv6, malformed addresses from the request, missing, unreadable and
damaged databases, and reloading a database replaced on disk."""

import json
import os

import maxminddb
import pytest
from mmdb_writer import MMDBWriter
from netaddr import IPSet

from fraud.engine import FraudConfig, check
from fraud.geoip import GeoIPLocator, geoip_status, geoip_warnings, parse_ip
from tests.fraud.conftest import AMSTERDAM_IPV6, BERLIN_IP, HETZNER_IPV6, LONDON_IP, build_database, make_facts

GEOIP_RULES = {"ip_country_mismatch", "anonymous_network", "hosting_network", "ip_far_from_billing_city"}


def test_city_record_gives_country_region_city_location_and_network(locator, geo_db):
    facts = locator.locate(parse_ip(LONDON_IP)[1]).facts
    assert (facts.country_code, facts.country_name, facts.region_code, facts.city) == (
        "GB",
        "United Kingdom",
        "ENG",
        "London",
    )
    assert (facts.latitude, facts.longitude) == (51.5074, -0.1278)
    assert (facts.asn, facts.as_organization, facts.network) == (20712, "Andrews & Arnold Ltd", "81.2.69.0/24")
    assert facts.databases == (geo_db.name,)


def test_ipv6_address_is_looked_up(locator):
    facts = locator.locate(parse_ip(HETZNER_IPV6)[1]).facts
    assert (facts.country_code, facts.city, facts.network) == ("DE", "Falkenstein", "2a01:4f8::/32")
    assert facts.is_hosting_provider and facts.asn == 24940


def test_ipv6_address_in_another_notation_is_the_same_address(config, locator):
    result = check(make_facts(ip_address="2001:067C:02E8:0022:0000:0000:C100:068B"), config, locator)
    assert result.ip.address == AMSTERDAM_IPV6 and result.ip.version == 6
    assert result.geoip.country_code == "NL"


def test_ipv4_mapped_ipv6_address_is_looked_up_as_ipv4(config, locator):
    result = check(make_facts(ip_address="::ffff:91.198.174.10"), config, locator)
    assert (result.ip.address, result.ip.version) == (BERLIN_IP, 4)
    assert result.geoip.city == "Berlin"


def test_ipv6_lookup_in_an_ipv4_only_database_finds_nothing(tmp_path, config):
    database = build_database(tmp_path, "81.2.69.0/24,GB\n")
    assert maxminddb.open_database(str(database)).metadata().ip_version == 4
    result = check(make_facts(ip_address=HETZNER_IPV6), config, GeoIPLocator(city_db=str(database)))
    assert not result.geoip.available and result.geoip.unavailable_reason == f"No GeoIP record for {HETZNER_IPV6}."
    assert result.warnings == ()


@pytest.mark.parametrize(
    ("raw", "problem"),
    [
        ("999.1.1.1", "'999.1.1.1' is not a valid IPv4 or IPv6 address."),
        ("abc", "'abc' is not a valid IPv4 or IPv6 address."),
        ("", "The IP address is empty."),
        ("   ", "The IP address is empty."),
        ("::zz", "'::zz' is not a valid IPv4 or IPv6 address."),
        ("1.2.3", "'1.2.3' is not a valid IPv4 or IPv6 address."),
        ("81.2.69.10, 10.0.0.1", "'81.2.69.10, 10.0.0.1' is not a valid IPv4 or IPv6 address."),
        ("81.2.69.10%eth0", "'81.2.69.10%eth0' is not a valid IPv4 or IPv6 address."),
        ("1" * 200, "The IP address is longer than 64 characters."),
        (b"81.2.69.10", "The IP address is not text."),
    ],
)
def test_malformed_ip_string_is_rejected_cleanly_and_recorded(config, locator, raw, problem):
    result = check(make_facts(ip_address=raw), config, locator)
    assert not result.ip.is_valid and result.ip.problem == problem
    assert not result.geoip.available and result.geoip.unavailable_reason == problem
    assert not GEOIP_RULES & {rule.code for rule in result.rules}
    stored = json.loads(json.dumps(result.to_json()))
    assert stored["ip"]["is_valid"] is False and stored["ip"]["problem"] == problem
    assert len(stored["ip"]["raw"]) <= 65


def test_missing_ip_is_recorded_as_no_ip(config, locator):
    result = check(make_facts(ip_address=None), config, locator)
    assert result.ip.raw is None and result.ip.problem == "No IP address was recorded with the order."


@pytest.mark.parametrize(
    ("raw", "scope"),
    [("127.0.0.1", "loopback"), ("10.1.2.3", "private"), ("fe80::1%eth0", "link-local"), (LONDON_IP, "global")],
)
def test_address_scope_is_recorded(config, locator, raw, scope):
    result = check(make_facts(ip_address=raw), config, locator)
    assert result.ip.is_valid and result.ip.scope == scope


# --- Databases that cannot be used -----------------------------------------------------------------------------


def test_missing_database_skips_geoip_rules_with_a_warning(tmp_path, config):
    path = tmp_path / "GeoLite2-City.mmdb"
    facts = make_facts(ip_address=LONDON_IP, email="a@mailinator.com")
    result = check(facts, config, GeoIPLocator(city_db=str(path)))
    assert result.warnings == (f"GeoIP database missing: {path} does not exist; GeoIP rules skipped.",)
    assert not result.geoip.available
    # Rules that need no GeoIP still run.
    assert [rule.code for rule in result.rules] == ["disposable_email_domain"]


def test_unconfigured_database_skips_geoip_rules_with_a_warning(config):
    result = check(make_facts(ip_address=LONDON_IP), config, GeoIPLocator())
    assert result.warnings == ("GeoIP database missing: FRAUD_GEOIP_CITY_DB is not set; GeoIP rules skipped.",)
    assert result.rules == ()


def test_garbage_database_file_skips_geoip_rules_with_a_warning(tmp_path, config):
    path = tmp_path / "garbage.mmdb"
    path.write_bytes(b"not a maxmind database\x00" * 100)
    result = check(make_facts(ip_address=LONDON_IP), config, GeoIPLocator(city_db=str(path)))
    assert result.warnings == (
        f"GeoIP database unreadable: {path} is not a readable MaxMind database; GeoIP rules skipped.",
    )
    assert result.rules == ()


def test_database_damaged_past_its_header_skips_geoip_rules_with_a_warning(tmp_path, config, geo_db):
    damaged = bytearray(geo_db.read_bytes())
    metadata_start = damaged.find(b"\xab\xcd\xefMaxMind.com")
    damaged[: metadata_start // 2] = b"\xff" * (metadata_start // 2)  # the search tree now points nowhere
    path = tmp_path / "damaged.mmdb"
    path.write_bytes(bytes(damaged))
    result = check(make_facts(ip_address=LONDON_IP), config, GeoIPLocator(city_db=str(path)))
    assert len(result.warnings) == 1
    assert result.warnings[0].startswith(f"GeoIP database unreadable: {path} is damaged")
    assert result.rules == () and not result.geoip.available


def test_unreadable_database_file_skips_geoip_rules_with_a_warning(tmp_path, config, geo_db):
    if os.geteuid() == 0:
        pytest.skip("root reads files whatever their permissions")
    path = tmp_path / "locked.mmdb"
    path.write_bytes(geo_db.read_bytes())
    path.chmod(0)
    result = check(make_facts(ip_address=LONDON_IP), config, GeoIPLocator(city_db=str(path)))
    assert result.warnings == (
        f"GeoIP database unreadable: {path} is not a readable MaxMind database; GeoIP rules skipped.",
    )


def test_directory_instead_of_a_database_skips_geoip_rules_with_a_warning(tmp_path, config):
    result = check(make_facts(ip_address=LONDON_IP), config, GeoIPLocator(city_db=str(tmp_path)))
    assert result.warnings == (
        f"GeoIP database unreadable: {tmp_path} is not a readable MaxMind database; GeoIP rules skipped.",
    )


def test_database_replaced_on_disk_is_reloaded(tmp_path, config):
    path = build_database(tmp_path, "81.2.69.0/24,DE\n")
    locator = GeoIPLocator(city_db=str(path))
    assert check(make_facts(ip_address=LONDON_IP), config, locator).rules == ()
    build_database(tmp_path, "81.2.69.0/24,GB\n")  # same output path
    result = check(make_facts(ip_address=LONDON_IP), config, locator)
    assert [rule.code for rule in result.rules] == ["ip_country_mismatch"]


def test_database_created_after_a_missing_one_is_picked_up(tmp_path, config):
    path = tmp_path / "geo.mmdb"
    locator = GeoIPLocator(city_db=str(path))
    assert check(make_facts(ip_address=LONDON_IP), config, locator).warnings
    build_database(tmp_path, "81.2.69.0/24,GB\n")
    result = check(make_facts(ip_address=LONDON_IP), config, locator)
    assert result.warnings == () and result.geoip.country_code == "GB"


def test_unchanged_database_is_opened_once(locator, monkeypatch):
    address = parse_ip(LONDON_IP)[1]
    locator.locate(address)
    opened = []
    open_database = maxminddb.open_database
    monkeypatch.setattr(maxminddb, "open_database", lambda *args: opened.append(args) or open_database(*args))
    for _ in range(3):
        assert locator.locate(address).facts.country_code == "GB"
    assert opened == []


# --- Databases of the GeoLite2 shapes -----------------------------------------------------------------------------


def _write_shaped_database(path, database_type, network, record):
    writer = MMDBWriter(ip_version=6, ipv4_compatible=True, database_type=database_type)
    writer.insert_network(IPSet([network]), record)
    writer.to_db_file(str(path))
    return str(path)


def test_country_asn_and_anonymous_ip_databases_are_read_together(tmp_path, config):
    country = _write_shaped_database(
        tmp_path / "country.mmdb",
        "GeoLite2-Country",
        "203.0.113.0/24",
        {"country": {"iso_code": "FR", "names": {"en": "France"}}, "registered_country": {"iso_code": "FR"}},
    )
    asn = _write_shaped_database(
        tmp_path / "asn.mmdb",
        "GeoLite2-ASN",
        "203.0.113.0/24",
        {"autonomous_system_number": 64500, "autonomous_system_organization": "Example Transit"},
    )
    anonymous = _write_shaped_database(
        tmp_path / "anonymous.mmdb",
        "GeoIP2-Anonymous-IP",
        "203.0.113.0/24",
        {"is_anonymous": True, "is_tor_exit_node": True, "is_public_proxy": True},
    )
    locator = GeoIPLocator(city_db=country, asn_db=asn, anonymous_db=anonymous)
    result = check(make_facts(ip_address="203.0.113.9", billing_latitude=None), config, locator)
    assert result.geoip.databases == ("country.mmdb", "asn.mmdb", "anonymous.mmdb")
    assert {rule.code: rule.sentence for rule in result.rules} == {
        "ip_country_mismatch": "The IP address is in France (FR) but the billing country is Germany (DE).",
        "anonymous_network": "The IP address belongs to a Tor exit node and a public proxy (AS64500 Example Transit).",
    }


def test_registered_country_stands_in_when_the_record_has_no_country(tmp_path):
    path = _write_shaped_database(
        tmp_path / "country.mmdb", "GeoLite2-Country", "203.0.113.0/24", {"registered_country": {"iso_code": "JP"}}
    )
    facts = GeoIPLocator(city_db=path).locate(parse_ip("203.0.113.1")[1]).facts
    assert facts.country_code == "JP"


def test_missing_asn_database_keeps_the_city_facts_and_warns(tmp_path, geo_db):
    locator = GeoIPLocator(city_db=str(geo_db), asn_db=str(tmp_path / "GeoLite2-ASN.mmdb"))
    lookup = locator.locate(parse_ip(LONDON_IP)[1])
    assert lookup.facts.country_code == "GB"
    assert lookup.warnings == (
        f"GeoIP ASN database missing: {tmp_path / 'GeoLite2-ASN.mmdb'} does not exist; ASN facts skipped.",
    )


# --- What the admin sees ----------------------------------------------------------------------------------------


def test_admin_warning_names_the_missing_database(settings, tmp_path):
    settings.FRAUD_GEOIP_CITY_DB = str(tmp_path / "nowhere.mmdb")
    settings.FRAUD_GEOIP_ASN_DB = settings.FRAUD_GEOIP_ANONYMOUS_DB = ""
    assert geoip_warnings() == [
        f"GeoIP database missing: {tmp_path / 'nowhere.mmdb'} does not exist; GeoIP rules skipped."
    ]


def test_admin_status_of_a_usable_database_says_it_uses_the_c_extension(settings, geo_db):
    settings.FRAUD_GEOIP_CITY_DB = str(geo_db)
    settings.FRAUD_GEOIP_ASN_DB = settings.FRAUD_GEOIP_ANONYMOUS_DB = ""
    assert geoip_warnings() == []
    city = geoip_status()[0]
    assert city.state == "ok" and city.c_extension
    assert city.describe().startswith(f"City/Country: {geo_db} (hostbill-portal-City-ASN-Anonymous-IP, built ")


def test_geoip_results_survive_a_json_round_trip(locator):
    result = check(make_facts(ip_address=HETZNER_IPV6), FraudConfig(), locator)
    stored = json.loads(json.dumps(result.to_json()))
    assert stored["geoip"]["network"] == "2a01:4f8::/32" and stored["geoip"]["is_hosting_provider"] is True


def test_one_file_named_for_every_kind_is_looked_up_and_reported_once(tmp_path, geo_db):
    missing = str(tmp_path / "all.mmdb")
    lookup = GeoIPLocator(city_db=missing, asn_db=missing, anonymous_db=missing).locate(parse_ip(LONDON_IP)[1])
    assert lookup.warnings == (f"GeoIP database missing: {missing} does not exist; GeoIP rules skipped.",)
    locator = GeoIPLocator(city_db=str(geo_db), asn_db=str(geo_db), anonymous_db=str(geo_db))
    lookup = locator.locate(parse_ip(HETZNER_IPV6)[1])
    assert lookup.facts.databases == (geo_db.name,) and lookup.facts.is_hosting_provider
