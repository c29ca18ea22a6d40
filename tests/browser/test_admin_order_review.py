"""An admin takes an order through accept, cancel, fraud, back to pending and delete by clicking, in Chromium."""

import re

import pytest
from playwright.sync_api import expect

from orders.models import Order
from provisioning.models import Service
from tests.browser.conftest import ARTIFACTS
from tests.browser.pages import log_in_to_the_admin

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _status(page):
    return page.locator(".field-status .readonly")


def _act(page, button, confirm):
    page.click(f"a.review-{button}")
    page.fill("#id_reason", f"browser test: {button}")
    page.click(f"input[type=submit][value='{confirm}']")


def test_admin_reviews_an_order_by_clicking(page, live_server, admin_user, pending_order):
    log_in_to_the_admin(page, live_server, admin_user)
    page.goto(f"{live_server.url}/admin/orders/order/?status__exact=pending")
    page.click(f"text={pending_order.number}")
    expect(_status(page)).to_have_text("Pending")

    page.click("a.review-accept")
    expect(page.locator("input[name$='_module']")).to_be_checked()
    page.click("input[type=submit][value='Accept order']")
    expect(page.locator(".messagelist")).to_contain_text("accepted")
    expect(_status(page)).to_have_text("Active")
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "admin-order-accepted.png"), full_page=True)
    assert Service.objects.get(order=pending_order).status == Service.Status.ACTIVE

    _act(page, "cancel", "Cancel order")
    expect(_status(page)).to_have_text("Cancelled")
    expect(page.locator(".order-items")).to_contain_text("Terminated")

    _act(page, "pending", "Set back to pending")
    expect(_status(page)).to_have_text("Pending")

    _act(page, "fraud", "Mark as fraud")
    expect(_status(page)).to_have_text("Fraud")
    expect(page.locator("a.review-accept")).to_have_count(0)

    _act(page, "pending", "Set back to pending")
    expect(_status(page)).to_have_text("Pending")

    assert list(Order.objects.get(pk=pending_order.pk).history.values_list("to_status", flat=True)) == [
        "pending",
        "active",
        "cancelled",
        "pending",
        "fraud",
        "pending",
    ]

    page.click("a.deletelink")
    expect(page.locator(".order-items")).to_contain_text("shop.example.com")
    page.click("input[type=submit][value='Yes, delete the order and its items']")
    expect(page).to_have_url(re.compile(r"/admin/orders/order/$"))
    expect(page.locator(".messagelist")).to_contain_text("deleted")
    assert not Order.objects.filter(pk=pending_order.pk).exists()
