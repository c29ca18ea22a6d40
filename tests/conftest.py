import itertools
from decimal import Decimal
from pathlib import Path

import pytest
from celery.result import allow_join_result
from django.apps import apps as django_apps
from django.conf import settings
from django.core import serializers
from django.core.management.color import no_style
from django.db import connections, transaction
from django.db.models.signals import post_migrate

from billing.cycles import BillingCycle
from orders.models import Product
from orders.services import CartItem
from provisioning.models import Tld
from tests import registrar_package
from tests.factories import (
    ClientFactory,
    CurrencyFactory,
    OrderFactory,
    PricingFactory,
    ProductFactory,
    tld_price_table,
)

CHROMIUM = Path("/usr/bin/chromium")
PDNS_SERVER = Path("/usr/sbin/pdns_server")

SKIP_REASONS = {
    "postgres": "needs PostgreSQL: set DATABASE_URL=postgres://postgres@127.0.0.1:5432/portal (.ci/run does)",
    "redis": "needs Redis and a Celery worker: set REDIS_URL=redis://127.0.0.1:6379/0 (.ci/run does)",
    "browser": "needs Debian's Chromium at /usr/bin/chromium: run `make system-deps` (as root)",
    "pdns": "needs Debian's PowerDNS at /usr/sbin/pdns_server (pdns-server, pdns-backend-sqlite3): "
    "run `make system-deps` (as root)",
}


def _available() -> dict[str, bool]:
    return {
        "postgres": settings.DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql",
        "redis": bool(settings.REDIS_URL),
        "browser": CHROMIUM.exists(),
        "pdns": PDNS_SERVER.exists(),
    }


@pytest.hookimpl(trylast=True)  # after pytest-django has put the tests in Django's order
def pytest_collection_modifyitems(config, items):
    available = _available()
    for item in items:
        missing = [
            reason for marker, reason in SKIP_REASONS.items() if marker in item.keywords and not available[marker]
        ]
        if missing:
            item.add_marker(pytest.mark.skip(reason="; ".join(missing)))
    # The tests that take minutes start first, so that under xdist the other workers share out the rest meanwhile
    # instead of one worker starting them last.
    items.sort(key=lambda item: "slow" not in item.keywords)


# --- the rows the data migrations seed -------------------------------------------------------------------------
# A transactional test (transactional_db, live_server, django_db(transaction=True)) ends with a flush that empties
# every table. Django then runs the post_migrate handlers again (content types, permissions), but not the data
# migrations: the rows they seed (gateways, settings rows, fraud rules, the beat schedule, ...) would be missing for
# every test that runs after it on the same worker, in whatever order xdist hands the tests out. So the rows the
# migrations leave are read once when the test database is made, and written back after each flush.

REMADE_BY_POST_MIGRATE = {"contenttypes.contenttype", "auth.permission"}


def _seeded_rows(using: str) -> str:
    def rows():
        for model in django_apps.get_models():
            if model._meta.label_lower not in REMADE_BY_POST_MIGRATE and model._meta.can_migrate(connections[using]):
                yield from model._base_manager.using(using).order_by("pk")

    # Natural keys, so a row that points at a content type or permission finds the one remade after the flush.
    return serializers.serialize("json", rows(), use_natural_foreign_keys=True)


def _put_back(rows: str, using: str) -> None:
    """Write the rows back as they were, ids included; bulk_create sends no signals, so nothing else is written.
    The id sequences then start after them, also after a flush that restarted the sequences."""
    connection = connections[using]
    models = []
    with transaction.atomic(using=using):  # foreign keys are checked at commit
        for model, group in itertools.groupby(
            serializers.deserialize("json", rows, using=using), key=lambda row: type(row.object)
        ):
            group = list(group)
            model._base_manager.using(using).bulk_create([row.object for row in group])
            for row in group:
                for name, related in row.m2m_data.items():
                    getattr(row.object, name).set(related)
            models.append(model)
        with connection.cursor() as cursor:
            for statement in connection.ops.sequence_reset_sql(no_style(), models):
                cursor.execute(statement)


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup, django_db_blocker):
    with django_db_blocker.unblock():
        seeded = {alias: _seeded_rows(alias) for alias in connections}
    # flush sends post_migrate once per app with models, in INSTALLED_APPS order: after the last one, every
    # handler has run. migrate sends it too (with a plan), which is not a flush.
    last_app = [app for app in django_apps.get_app_configs() if app.models_module is not None][-1]

    def put_back_after_a_flush(sender, using, **kwargs):
        if sender is last_app and "plan" not in kwargs and using in seeded:
            _put_back(seeded[using], using)

    post_migrate.connect(put_back_after_a_flush, weak=False, dispatch_uid="tests-seeded-rows")
    yield
    post_migrate.disconnect(dispatch_uid="tests-seeded-rows")


@pytest.fixture
def usd(db):
    return CurrencyFactory(code="USD", prefix="$", is_default=True)


@pytest.fixture
def customer(usd):
    return ClientFactory(currency=usd)


@pytest.fixture
def hosting(usd):
    """A hosting product sold monthly (4.99 + 2.00 setup) and annually (49.90) in USD."""
    product = ProductFactory(name="Starter", requires_domain=True)
    PricingFactory(
        product=product,
        currency=usd,
        billing_cycle=BillingCycle.MONTHLY,
        price=Decimal("4.99"),
        setup_fee=Decimal("2.00"),
    )
    PricingFactory(product=product, currency=usd, billing_cycle=BillingCycle.ANNUALLY, price=Decimal("49.90"))
    return product


@pytest.fixture
def domain_product(usd):
    product = ProductFactory(name=".com", type=Product.Type.DOMAIN)
    PricingFactory(product=product, currency=usd, billing_cycle=BillingCycle.ANNUALLY, price=Decimal("12.99"))
    PricingFactory(product=product, currency=usd, billing_cycle=BillingCycle.BIENNIALLY, price=Decimal("25.98"))
    return product


@pytest.fixture
def eur(db):
    return CurrencyFactory(code="EUR", prefix="€", is_default=False)


@pytest.fixture
def tld_com(usd):
    """.com at the Manual registrar (which cannot check availability), priced in USD for 1-10 years."""
    tld = Tld.objects.create(extension="com", registrar="manual")
    tld_price_table(tld, usd, base="10.00")
    return tld


@pytest.fixture
def tld_example(usd):
    """.example at the scripted test registrar (tests/registrar_package: taken.example is taken), in USD for
    1-10 years; the registrar's names are reset before and after."""
    registrar_package.reset()
    tld = Tld.objects.create(extension="example", registrar="scripted_registrar")
    tld_price_table(tld, usd, base="5.00")
    yield tld
    registrar_package.reset()


@pytest.fixture
def place():
    """Place an order of `items` through the checkout service (OrderFactory), running its after-commit work as a
    real commit would."""

    def _place(client, *items: CartItem, **kwargs):
        return OrderFactory(client=client, items=list(items), **kwargs)

    return _place


@pytest.fixture
def pending_order(customer, hosting, domain_product, place):
    return place(
        customer,
        CartItem(product_id=hosting.pk, billing_cycle=BillingCycle.MONTHLY, domain="shop.example.com"),
        CartItem(product_id=domain_product.pk, billing_cycle=BillingCycle.ANNUALLY, domain="shop-example.com"),
    )


@pytest.fixture(autouse=True)
def _outside_a_task():
    """Celery's eager mode marks the process as inside a task while one runs, and two threads running eager tasks
    at once (the concurrency tests) can leave the mark set for good: every later result.get() in that process then
    refuses. Each test starts outside a task, whatever ran before it on its worker."""
    with allow_join_result():
        yield


@pytest.fixture(autouse=True)
def _empty_cache():
    """Log-in failure counts live in the cache: every test starts without any."""
    from django.core.cache import cache

    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def receiver():
    """A real HTTP receiver on a free loopback port that records requests and answers as told
    (tests/notifications/webhook_receiver.py); stopped after the test."""
    from tests.notifications.webhook_receiver import Receiver

    running = Receiver().start()
    yield running
    running.stop()


@pytest.fixture
def whm():
    """A WHM stand-in: HTTPS on a free loopback port with a self-signed certificate, accounts in memory, WHM API 1's
    answers and faults on demand (tests/whm_standin.py); stopped after the test."""
    from tests.whm_standin import WhmStandIn

    running = WhmStandIn().start()
    yield running
    running.stop()


@pytest.fixture(scope="session")
def epp_certificates(tmp_path_factory):
    """The test CA, the EPP server's certificate and a client certificate (tests/epp_server.py), made once."""
    from tests.epp_server import make_certificates

    return make_certificates(tmp_path_factory.mktemp("epp-certificates"))


@pytest.fixture
def epp_server(epp_certificates):
    """A real TLS EPP server on a free loopback port with an empty in-memory registry, accounts registrar-a and
    registrar-b, and knobs for faults (tests/epp_server.py); stopped after the test."""
    from tests.epp_server import EppServer

    running = EppServer(epp_certificates).start()
    yield running
    running.stop()


@pytest.fixture
def epp_registrar(epp_server, epp_certificates):
    """Configures the EPP registrar as an admin saves it (RegistrarConfig, the password encrypted) for the test
    server's registrar-a: `epp_registrar(port=, config_id=, active=, timeout=)` returns the configuration. The kept
    EPP sessions are closed after the test."""
    from provisioning.registrars.epp.registrar import close_sessions
    from provisioning.services.tlds import registrar_config_save

    def configure(*, port=None, config_id=None, active=True, timeout=2):
        return registrar_config_save(
            config_id=config_id,
            name="epp",
            settings={
                "host": epp_server.host,
                "port": port or epp_server.port,
                "username": "registrar-a",
                "password": epp_server.accounts["registrar-a"],
                "ca_file": str(epp_certificates.ca_file),
                "timeout": timeout,
            },
            is_active=active,
            actor=None,
        ).config

    yield configure
    close_sessions()
