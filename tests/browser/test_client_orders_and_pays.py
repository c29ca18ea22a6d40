"""A client orders, pays with the sandbox card and downloads the PDF; an admin then accepts the order. Chromium."""

import pytest
from playwright.sync_api import expect

from billing.models import Invoice
from orders.models import Order
from tests.browser.conftest import ARTIFACTS
from tests.browser.pages import log_in_to_the_admin, log_in_to_the_client_area

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_client_orders_pays_and_downloads_the_pdf_then_an_admin_accepts(
    browser, page, live_server, customer, hosting, admin_user
):
    log_in_to_the_client_area(page, live_server, customer)
    expect(page.locator("h1")).to_contain_text(f"Welcome, {customer.contact_name}")

    page.click("nav >> text=Order")
    page.click(f".card:has-text('{hosting.name}') >> text=Choose")
    page.select_option("#id_billing_cycle", "monthly")
    page.fill("#id_domain", "browser-shop.example.com")
    page.click("button:has-text('Add to cart')")
    expect(page.locator("table")).to_contain_text("browser-shop.example.com")
    page.check("#id_accept_terms")
    page.click("button:has-text('Place order')")

    expect(page.locator(".messages")).to_contain_text("is placed")
    order = Order.objects.get(client=customer)
    expect(page.locator("h1")).to_contain_text(order.invoice.number)
    expect(page.locator("h1 .status")).to_have_text("Unpaid")

    page.click("button:has-text('Pay with Test card (sandbox)')")
    page.click("button:has-text('Approve payment')")
    expect(page.locator(".messages")).to_contain_text("Payment received")
    expect(page.locator("h1 .status")).to_have_text("Paid")
    expect(page.locator("#balance-due")).to_contain_text("$0.00")
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "client-invoice-paid.png"), full_page=True)

    with page.expect_download() as download_info:
        page.click("text=Download PDF")
    download = download_info.value
    assert download.suggested_filename == f"{order.invoice.number}.pdf"
    pdf_path = ARTIFACTS / download.suggested_filename
    download.save_as(pdf_path)
    assert pdf_path.read_bytes().startswith(b"%PDF-")
    assert Invoice.objects.get(pk=order.invoice_id).status == Invoice.Status.PAID

    admin_context = browser.new_context(viewport={"width": 1280, "height": 900})
    admin = admin_context.new_page()
    admin.set_default_timeout(15_000)
    log_in_to_the_admin(admin, live_server, admin_user)
    admin.goto(f"{live_server.url}/admin/orders/order/?status__exact=pending")
    admin.click(f"text={order.number}")
    admin.click("a.review-accept")
    admin.click("input[type=submit][value='Accept order']")
    expect(admin.locator(".messagelist")).to_contain_text("accepted")
    expect(admin.locator(".field-status .readonly")).to_have_text("Active")
    admin_context.close()
    order.refresh_from_db()
    assert order.status == Order.Status.ACTIVE
