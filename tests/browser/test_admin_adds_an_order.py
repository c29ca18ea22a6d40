"""An admin places an order for a client from Orders > Add New Order by clicking, in Chromium, under the admin's
Content-Security-Policy."""

import re

import pytest
from playwright.sync_api import expect

from notifications.models import ActivityLog
from orders.models import Order
from provisioning.models import Service
from tests.browser.conftest import ARTIFACTS
from tests.browser.pages import log_in_to_the_admin, watch_csp_violations
from tests.factories import ClientFactory, UserFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_admin_finds_a_client_adds_a_product_and_lands_on_the_new_order(page, live_server, admin_user, usd, hosting):
    alice = ClientFactory(currency=usd, contact_name="Alice Example", user=UserFactory(username="alice@example.com"))
    ClientFactory(currency=usd, contact_name="Bob Builder", user=UserFactory(username="bob@example.com"))
    violations = watch_csp_violations(page.context)
    log_in_to_the_admin(page, live_server, admin_user)

    page.goto(f"{live_server.url}/admin/orders/order/")
    page.click("a.add-new-order")
    page.fill("#id_q", "alice")
    page.click("input[type=submit][value='Search']")
    expect(page.locator("table.client-matches tbody tr")).to_have_count(1)
    page.click("a.choose-client")
    expect(page.locator(".chosen-client")).to_contain_text("Alice Example")

    page.select_option("#id_products-0-product", str(hosting.pk))
    page.select_option("#id_products-0-billing_cycle", "annually")
    page.fill("#id_products-0-domain", "alice-shop.example.com")
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "admin-add-new-order-form.png"), full_page=True)
    page.click("input[type=submit][value='Place order']")

    order = Order.objects.get(client=alice)
    expect(page).to_have_url(re.compile(rf"/admin/orders/order/{order.pk}/change/$"))
    expect(page.locator(".messagelist")).to_contain_text(f"{order} placed for Alice Example: Pending")
    expect(page.locator(".field-status .readonly")).to_have_text("Pending")
    page.screenshot(path=str(ARTIFACTS / "admin-add-new-order-placed.png"), full_page=True)
    service = Service.objects.get(order=order)
    assert (service.domain, service.billing_cycle, service.status) == ("alice-shop.example.com", "annually", "pending")
    assert order.invoice is not None and order.invoice.total == order.total
    assert ActivityLog.objects.get(action="order_placed", subject_id=order.pk).actor == admin_user
    assert violations == []
