from io import StringIO

import pytest
from django.contrib.auth import authenticate
from django.core.management import call_command

from billing.models import Client, Invoice
from orders.models import Order, Product


@pytest.fixture(autouse=True)
def demo_geoip_db(tmp_path, settings):
    """The demo GeoIP database goes to a temporary folder, and the fraud check uses it (as `make run` does)."""
    path = tmp_path / "geoip-demo.mmdb"
    settings.FRAUD_GEOIP_CITY_DB = str(path)
    return path


@pytest.fixture
def _load(demo_geoip_db):
    def load():
        out = StringIO()
        call_command("load_demo", geoip_db=str(demo_geoip_db), stdout=out)
        return out.getvalue()

    return load


def _password_for(output, username):
    line = next(line for line in output.splitlines() if f"user: {username} " in line)
    return line.rsplit("password: ", 1)[1].strip()


def test_load_demo_creates_a_catalog_clients_orders_and_an_admin_it_can_log_in_as(db, _load):
    output = _load()
    assert Product.objects.filter(type="domain").exists() and Product.objects.count() >= 3
    assert Client.objects.count() == 3 and all(c.user_id for c in Client.objects.all())
    statuses = set(Order.objects.values_list("status", flat=True))
    assert {"pending", "active"} <= statuses
    assert Invoice.objects.count() == Order.objects.count()
    admin = authenticate(username="admin", password=_password_for(output, "admin"))
    assert admin is not None and admin.is_superuser
    assert authenticate(username="alice@example.com", password=_password_for(output, "alice@example.com"))


def test_load_demo_runs_again_without_duplicating_and_prints_working_passwords(db, _load):
    _load()
    orders = Order.objects.count()
    output = _load()
    assert Order.objects.count() == orders and Client.objects.count() == 3
    assert authenticate(username="admin", password=_password_for(output, "admin"))


def test_the_demo_order_from_an_ip_in_another_country_lands_in_fraud_with_its_reason(db, _load, demo_geoip_db):
    output = _load()
    assert f"Demo GeoIP database written to {demo_geoip_db}" in output
    fraud = Order.objects.get(status="fraud")
    assert fraud.client.email == "bob@example.com" and fraud.invoice.status == Invoice.Status.CANCELLED
    rules = {rule["code"]: rule["sentence"] for rule in fraud.fraud_result["rules"]}
    assert (
        rules["ip_country_mismatch"]
        == "The IP address is in Brazil (BR) but the billing country is United Kingdom (GB)."
    )
    assert "hosting provider's network" in rules["hosting_network"]
    assert fraud.fraud_score == 60 and fraud.fraud_result["threshold"] == 50
    # The other demo orders come from addresses the demo database puts in their clients' countries.
    others = Order.objects.exclude(pk=fraud.pk)
    assert all(o.fraud_result["geoip"]["country_code"] == o.client.country for o in others)
    assert not any(rule["code"] == "ip_country_mismatch" for o in others for rule in o.fraud_result["rules"])
