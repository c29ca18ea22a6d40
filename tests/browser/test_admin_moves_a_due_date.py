"""An admin moves a service's next due date on its admin page, in Chromium: the billing day follows, and the
move is in the activity log."""

import datetime

import pytest
from playwright.sync_api import expect

from notifications.models import ActivityLog
from tests.browser.pages import log_in_to_the_admin
from tests.factories import ServiceFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_admin_moves_a_due_date_and_the_billing_day_follows(page, live_server, admin_user, customer, hosting):
    service = ServiceFactory(
        client=customer,
        product=hosting,
        domain="moved.example",
        registration_date=datetime.date(2026, 12, 31),
        next_due_date=datetime.date(2027, 1, 31),
    )
    log_in_to_the_admin(page, live_server, admin_user)
    page.goto(f"{live_server.url}/admin/provisioning/service/{service.pk}/change/")
    expect(page.locator(".field-billing_day .readonly")).to_have_text("-")
    page.fill("#id_next_due_date", "2027-01-30")
    page.click("input[name=_continue]")

    expect(page.locator(".messagelist")).to_contain_text("was changed successfully")
    expect(page.locator(".field-billing_day .readonly")).to_have_text("30")
    expect(page.locator("#id_next_due_date")).to_have_value("2027-01-30")
    entry = ActivityLog.objects.get(action="service_due_date_moved", subject_id=service.pk)
    assert entry.actor_label == admin_user.username
    assert "from 2027-01-31 to 2027-01-30" in entry.message
