"""The demo's database hosting: a "Managed PostgreSQL" product set up on payment, on a server pointing at the local
PostgreSQL when it answers (inactive, with a note saying why, when it does not), and Alice's Pending order for it
with its unpaid invoice."""

import socket
from io import StringIO

import pytest
from django.core.management import call_command

from billing.models import Invoice
from orders.management.commands import load_demo
from orders.models import Order, Product
from provisioning.models import AutoSetup, Server, Service

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _geoip(tmp_path, settings):
    settings.FRAUD_GEOIP_CITY_DB = str(tmp_path / "geoip-demo.mmdb")


def _load() -> str:
    from django.conf import settings

    out = StringIO()
    call_command("load_demo", geoip_db=settings.FRAUD_GEOIP_CITY_DB, stdout=out)
    return out.getvalue()


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]  # nothing listens on it once the probe is closed


def test_the_demo_sells_managed_postgresql_and_alice_has_a_pending_unpaid_order_for_it():
    _load()
    product = Product.objects.get(name="Managed PostgreSQL")
    assert (product.module, product.auto_setup) == ("postgresql", AutoSetup.ON_PAYMENT)
    assert product.module_settings == {"connection_limit": 5}
    server = Server.objects.get(name="db01")
    assert (server.module, server.hostname, server.port, server.username) == (
        "postgresql",
        "127.0.0.1",
        5432,
        "postgres",
    )
    assert list(product.server_group.servers.all()) == [server]
    service = Service.objects.get(product=product)
    assert service.client.email == "alice@example.com" and service.status == Service.Status.PENDING
    order = Order.objects.get(pk=service.order_id)
    assert order.status == Order.Status.PENDING and order.invoice.status == Invoice.Status.UNPAID
    assert (service.module, service.auto_setup) == ("postgresql", AutoSetup.ON_PAYMENT)


@pytest.mark.postgres
def test_the_database_server_is_active_when_the_local_postgresql_answers():
    assert load_demo.postgres_unreachable() == ""
    _load()
    server = Server.objects.get(name="db01")
    assert server.is_active and server.notes == ""


def test_the_database_server_is_inactive_with_the_reason_when_postgresql_does_not_answer(monkeypatch):
    monkeypatch.setitem(load_demo.DEMO_POSTGRES, "port", _closed_port())
    output = _load()
    server = Server.objects.get(name="db01")
    assert not server.is_active
    assert "did not answer when the demo was loaded" in server.notes
    assert "make this server active" in server.notes
    assert "Database server db01 made inactive" in output
