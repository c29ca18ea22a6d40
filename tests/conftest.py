from decimal import Decimal
from pathlib import Path

import pytest
from django.conf import settings

from billing.cycles import BillingCycle
from orders.models import Product
from orders.services import CartItem, order_place
from tests.factories import ClientFactory, CurrencyFactory, PricingFactory, ProductFactory

CHROMIUM = Path("/usr/bin/chromium")

SKIP_REASONS = {
    "postgres": "needs PostgreSQL: set DATABASE_URL=postgres://postgres@127.0.0.1:5432/portal (.ci/run does)",
    "redis": "needs Redis and a Celery worker: set REDIS_URL=redis://127.0.0.1:6379/0 (.ci/run does)",
    "browser": "needs Debian's Chromium at /usr/bin/chromium: run `make system-deps` (as root)",
}


def _available() -> dict[str, bool]:
    return {
        "postgres": settings.DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql",
        "redis": bool(settings.REDIS_URL),
        "browser": CHROMIUM.exists(),
    }


def pytest_collection_modifyitems(config, items):
    available = _available()
    for item in items:
        missing = [
            reason for marker, reason in SKIP_REASONS.items() if marker in item.keywords and not available[marker]
        ]
        if missing:
            item.add_marker(pytest.mark.skip(reason="; ".join(missing)))


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
def place(django_capture_on_commit_callbacks):
    """Place an order through the checkout service, running its after-commit work as a real commit would."""

    def _place(client, *items: CartItem, **kwargs):
        with django_capture_on_commit_callbacks(execute=True):
            return order_place(client=client, items=list(items), actor=None, **kwargs)

    return _place


@pytest.fixture
def pending_order(customer, hosting, domain_product, place):
    return place(
        customer,
        CartItem(product_id=hosting.pk, billing_cycle=BillingCycle.MONTHLY, domain="shop.example.com"),
        CartItem(product_id=domain_product.pk, billing_cycle=BillingCycle.ANNUALLY, domain="shop-example.com"),
    )


@pytest.fixture(autouse=True)
def _empty_cache():
    """Log-in failure counts live in the cache: every test starts without any."""
    from django.core.cache import cache

    cache.clear()
    yield
    cache.clear()
