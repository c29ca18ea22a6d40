"""The client area and the admin work in Chromium under their Content-Security-Policy: no violation is reported
while a client orders, opens the invoice and pays with the sandbox card, nor on an admin order page, and the
stylesheets (now files, not inline) are applied."""

import pytest
from playwright.sync_api import expect

from orders.models import Order
from tests.browser.conftest import ARTIFACTS
from tests.browser.pages import log_in_to_the_admin, log_in_to_the_client_area, watch_csp_violations

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_client_area_and_admin_pages_raise_no_csp_violation(browser, page, live_server, customer, hosting, admin_user):
    violations = watch_csp_violations(page.context)
    log_in_to_the_client_area(page, live_server, customer)
    expect(page.locator("h1")).to_contain_text("Welcome")
    expect(page.locator("header")).to_have_css("background-color", "rgb(29, 53, 87)")  # clientarea.css applied

    page.click("nav >> text=Order")
    page.click(f".card:has-text('{hosting.name}') >> text=Choose")
    page.select_option("#id_billing_cycle", "monthly")
    page.fill("#id_domain", "csp-shop.example.com")
    page.click("button:has-text('Add to cart')")
    expect(page.locator("label.checkbox")).to_have_css("display", "flex")
    page.check("#id_accept_terms")
    page.click("button:has-text('Place order')")
    expect(page.locator("h1 .status")).to_have_text("Unpaid")
    page.click("button:has-text('Pay with Test card (sandbox)')")
    page.click("button:has-text('Approve payment')")
    expect(page.locator("h1 .status")).to_have_text("Paid")
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "csp-client-invoice.png"), full_page=True)
    page.goto(f"{live_server.url}/")
    expect(page.locator(".cards.spaced")).to_have_css("margin-bottom", "19.2px")
    assert violations == []

    admin_context = browser.new_context(viewport={"width": 1280, "height": 900})
    admin_violations = watch_csp_violations(admin_context)
    admin = admin_context.new_page()
    admin.set_default_timeout(15_000)
    log_in_to_the_admin(admin, live_server, admin_user)
    admin.goto(f"{live_server.url}/admin/orders/order/")
    admin.click(f"text={Order.objects.get(client=customer).number}")
    share = admin.locator("table.order-items").evaluate(
        "table => table.getBoundingClientRect().width / table.parentElement.getBoundingClientRect().width"
    )
    assert share > 0.9  # admin.css's full-width applied
    admin.screenshot(path=str(ARTIFACTS / "csp-admin-order.png"), full_page=True)
    admin.goto(f"{live_server.url}/admin/billing/invoice/")
    admin.goto(f"{live_server.url}/admin/billing/client/{customer.pk}/change/")
    expect(admin.locator("table.client-invoices")).to_be_visible()
    admin_context.close()
    assert admin_violations == []
