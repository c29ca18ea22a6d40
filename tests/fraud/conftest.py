"""Small GeoIP databases built by `manage.py build_geoip_db`, and order facts that trip no rule."""

import io
from decimal import Decimal
from pathlib import Path

import pytest
from django.core.management import call_command

from fraud.engine import FraudConfig, OrderFacts
from fraud.geoip import GeoIPLocator

# network, country, region, city, latitude, longitude, asn, as_org, is_anonymous, is_hosting
NETWORKS = """\
network,country,region,city,latitude,longitude,asn,as_org,is_anonymous,is_hosting
81.2.69.0/24,GB,ENG,London,51.5074,-0.1278,20712,Andrews & Arnold Ltd,0,0
91.198.174.0/24,DE,BE,Berlin,52.52,13.405,3320,Deutsche Telekom AG,0,0
91.198.174.128/25,DE,HH,Hamburg,53.5511,9.9937,3320,Deutsche Telekom AG,0,0
185.220.101.0/24,DE,,,,,60729,Stiftung Erneuerbare Freiheit,1,0
41.58.0.0/16,NG,LA,Lagos,6.4541,3.3947,37148,Globacom,0,0
128.101.101.0/24,US,MN,Minneapolis,44.9778,-93.265,217,University of Minnesota,0,0
2a01:4f8::/32,DE,SN,Falkenstein,50.4779,12.3713,24940,Hetzner Online GmbH,0,1
2001:67c:2e8::/48,NL,NH,Amsterdam,52.3676,4.9041,3333,RIPE NCC,0,0
2c0f:f248::/32,NG,,,,,,,,
"""

LONDON_IP = "81.2.69.10"
BERLIN_IP = "91.198.174.10"
TOR_IP = "185.220.101.7"
LAGOS_IP = "41.58.1.1"
HETZNER_IPV6 = "2a01:4f8:10a::2"
AMSTERDAM_IPV6 = "2001:67c:2e8:22::c100:68b"
UNKNOWN_IP = "8.8.8.8"


def build_database(folder: Path, csv_text: str, name: str = "geo.mmdb") -> Path:
    source, output = folder / f"{name}.csv", folder / name
    source.write_text(csv_text)
    call_command("build_geoip_db", str(source), str(output), stdout=io.StringIO())
    return output


@pytest.fixture(scope="session")
def geo_db(tmp_path_factory) -> Path:
    return build_database(tmp_path_factory.mktemp("geoip"), NETWORKS)


@pytest.fixture
def locator(geo_db) -> GeoIPLocator:
    return GeoIPLocator(city_db=str(geo_db))


@pytest.fixture
def config() -> FraudConfig:
    return FraudConfig()


def make_facts(**changes) -> OrderFacts:
    """A returning German client in Berlin ordering one small service from a Berlin IP: no rule fires."""
    values = {
        "client_id": 7,
        "client_age_days": 400,
        "email": "anna@example.de",
        "billing_country": "DE",
        "billing_region": "BE",
        "billing_city": "Berlin",
        "billing_latitude": 52.52,
        "billing_longitude": 13.405,
        "ip_address": BERLIN_IP,
        "order_total": Decimal("9.99"),
        "currency": "EUR",
        "product_ids": (3,),
        "product_names": ("Starter",),
        "services_ordered": 1,
        "earlier_orders": 4,
        "has_paid_invoice": True,
    }
    values.update(changes)
    return OrderFacts(**values)
