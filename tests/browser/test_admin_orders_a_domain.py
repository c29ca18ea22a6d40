"""Issue 18's "done means", clicked in Chromium: an admin places an order for a client from Orders > Add New Order;
the client pays the invoice with the sandbox card; the domain goes to its registrar on payment, and its expiry date
is then the registrar's:
- on the demo data (what `make run` loads): .com at the Manual registrar, so an admin gets a to-do and marks it
  done with the date the registry shows;
- at the TLS EPP test server, configured as an admin configures a registry: the registry's date."""

import datetime
import re
from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import call_command
from playwright.sync_api import expect

from billing.models import Client
from orders.models import Order, Product
from provisioning.models import Domain, ModuleCall, ModuleTodo, Tld
from provisioning.services.tlds import TldPriceRow, tld_save
from tests.browser.conftest import ARTIFACTS
from tests.browser.pages import log_in_to_the_admin
from tests.factories import PASSWORD, ClientFactory, PricingFactory, ProductFactory, UserFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _demo_passwords(settings, tmp_path) -> dict[str, str]:
    """Load the demo as `make run` does (its GeoIP database is the fraud check's) and read the printed passwords."""
    settings.FRAUD_GEOIP_CITY_DB = str(tmp_path / "geoip-demo.mmdb")
    out = StringIO()
    call_command("load_demo", geoip_db=settings.FRAUD_GEOIP_CITY_DB, stdout=out)
    return dict(re.findall(r"user: (\S+)\s+password: (\S+)", out.getvalue()))


def _add_new_order(page, live_server, *, client: Client, tld_product: Product, name: str) -> Order:
    page.goto(f"{live_server.url}/admin/orders/order/")
    page.click("a.add-new-order")
    page.fill("#id_q", client.email)
    page.click("input[type=submit][value='Search']")
    page.click("a.choose-client")
    expect(page.locator(".chosen-client")).to_contain_text(client.contact_name)
    page.select_option("#id_domains-0-product", str(tld_product.pk))
    page.fill("#id_domains-0-name", name)
    page.select_option("#id_domains-0-action", "register")
    page.select_option("#id_domains-0-years", "2")
    page.click("input[type=submit][value='Place order']")
    order = Order.objects.get(client=client, domains__name=name)
    expect(page).to_have_url(re.compile(rf"/admin/orders/order/{order.pk}/change/$"))
    expect(page.locator(".field-status .readonly")).to_have_text("Pending")
    return order


def _client_pays(browser, live_server, *, username: str, password: str, order: Order) -> None:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(15_000)
    page.goto(f"{live_server.url}/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    page.click("button[type=submit]")
    page.goto(f"{live_server.url}/invoices/{order.invoice_id}/")
    page.click("button:has-text('Pay with Test card (sandbox)')")
    page.click("button:has-text('Approve payment')")
    expect(page.locator(".messages")).to_contain_text("Payment received")
    expect(page.locator("h1 .status")).to_have_text("Paid")
    context.close()


def test_on_the_demo_data_the_admin_orders_the_client_pays_and_the_manual_to_do_done_dates_the_domain(
    browser, page, live_server, settings, tmp_path
):
    passwords = _demo_passwords(settings, tmp_path)
    alice = Client.objects.get(email="alice@example.com")
    com = Tld.objects.get(extension="com")
    assert (com.registrar, com.register_when) == ("manual", Tld.RegisterWhen.ON_PAYMENT)
    tld_product = Product.objects.get(type=Product.Type.DOMAIN, name=".com registration")
    page.goto(f"{live_server.url}/admin/login/")
    page.fill("#id_username", "admin")
    page.fill("#id_password", passwords["admin"])
    page.click("input[type=submit]")

    order = _add_new_order(page, live_server, client=alice, tld_product=tld_product, name="alices-second-shop.com")
    _client_pays(browser, live_server, username="alice@example.com", password=passwords[alice.email], order=order)

    domain = Domain.objects.get(name="alices-second-shop.com")
    assert (domain.status, domain.expiry_date) == (Domain.Status.PENDING_REGISTRATION, None)
    todo = ModuleTodo.objects.get(domain=domain, done_at__isnull=True)
    assert "Register alices-second-shop.com" in todo.text

    page.goto(f"{live_server.url}/admin/provisioning/moduletodo/")
    page.check(f"input[name=_selected_action][value='{todo.pk}']")
    page.select_option("select[name=action]", "mark_done")
    page.click("button[type=submit][name=index]")
    registry_date = datetime.date.today().replace(year=datetime.date.today().year + 2) + datetime.timedelta(days=3)
    page.fill("#id_expiry_date", registry_date.isoformat())
    page.screenshot(path=str(ARTIFACTS / "admin-manual-registration-expiry-date.png"), full_page=True)
    page.click("input[type=submit]")
    expect(page.locator(".messagelist")).to_contain_text("1 to-do(s) marked done")

    page.goto(f"{live_server.url}/admin/provisioning/domain/{domain.pk}/change/")
    expect(page.locator(".field-status .readonly")).to_have_text("Active")
    domain.refresh_from_db()
    assert (domain.status, domain.expiry_date) == (Domain.Status.ACTIVE, registry_date)
    order.refresh_from_db()
    assert order.status == Order.Status.PENDING  # paid and registered, still the admin's to accept


@pytest.fixture
def epp_tld(epp_registrar, epp_server, usd):
    """.test at the EPP test server, registered on payment."""
    epp_registrar(timeout=5)
    tld_save(
        tld_id=None,
        fields={"extension": "test", "registrar": "epp", "register_when": Tld.RegisterWhen.ON_PAYMENT},
        prices=[
            TldPriceRow(
                currency_id=usd.pk, years=years, register_price=Decimal(8 * years), renew_price=Decimal(9 * years)
            )
            for years in (1, 2)
        ],
        fees=[],
        actor=None,
    )
    return epp_server


def test_at_the_epp_test_server_the_paid_domain_is_active_until_the_registrys_date(
    browser, page, live_server, admin_user, usd, epp_tld
):
    client = ClientFactory(currency=usd, contact_name="Dana Domains", user=UserFactory(username="dana@example.com"))
    # The domain product Add New Order lists (sold in USD); the .test TLD's table prices it.
    tld_product = PricingFactory(product=ProductFactory(name=".test", type=Product.Type.DOMAIN), currency=usd).product
    log_in_to_the_admin(page, live_server, admin_user)

    order = _add_new_order(page, live_server, client=client, tld_product=tld_product, name="dana.test")
    _client_pays(browser, live_server, username="dana@example.com", password=PASSWORD, order=order)

    domain = Domain.objects.get(name="dana.test")
    held = epp_tld.registry.domains["dana.test"]
    call = ModuleCall.objects.get(domain=domain, action="register")
    assert call.status == ModuleCall.Status.SUCCEEDED and held.sponsor == "registrar-a"
    assert (domain.status, domain.expiry_date) == (Domain.Status.ACTIVE, held.expires_at.date())

    page.goto(f"{live_server.url}/admin/provisioning/domain/{domain.pk}/change/")
    expect(page.locator(".field-status .readonly")).to_have_text("Active")
    expect(page.locator(".domain-registrar-log")).to_contain_text("register")
    page.screenshot(path=str(ARTIFACTS / "admin-domain-registered-at-epp.png"), full_page=True)
