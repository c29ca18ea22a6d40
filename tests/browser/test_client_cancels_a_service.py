"""A client asks, from the service's page, for it to end at the end of its billing period; the next run on the
due date terminates it. Chromium."""

import datetime

import pytest
from playwright.sync_api import expect

from automation.scheduler import automation_run
from provisioning.models import CancellationRequest, Service
from tests.browser.pages import log_in_to_the_client_area
from tests.factories import ServiceFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

DUE = datetime.date(2026, 12, 11)


def test_a_client_asks_to_cancel_at_the_end_of_the_period_and_the_run_ends_it(page, live_server, customer, hosting):
    service = ServiceFactory(client=customer, product=hosting, next_due_date=DUE, domain="leaving.example.com")
    log_in_to_the_client_area(page, live_server, customer)

    page.click("nav >> text=Services")
    page.click("tr:has-text('leaving.example.com') >> a")
    expect(page.locator("#cancellation h2")).to_have_text("Request cancellation")
    page.check("text=At the end of the billing period (2026-12-11)")
    page.fill("#cancel-reason", "Moving to a bigger plan")
    page.click("button:has-text('Request cancellation')")

    expect(page.locator(".messages")).to_contain_text("We have your cancellation request.")
    expect(page.locator("#cancellation")).to_contain_text("it ends on 2026-12-11")
    expect(page.locator("button:has-text('Request cancellation')")).to_have_count(0)
    request = CancellationRequest.objects.get(service=service)
    assert (request.when, request.reason) == ("end_of_period", "Moving to a bigger plan")

    assert automation_run(today=DUE, only=["cancellation_requests"], trigger="test").ok
    page.reload()
    expect(page.locator("h1 .status")).to_have_text("Terminated")
    expect(page.locator("#cancellation")).to_have_count(0)
    expect(page.locator("tr:has-text('Terminated')")).to_contain_text("2026-12-11")
    service.refresh_from_db()
    assert (service.status, service.termination_date) == (Service.Status.TERMINATED, DUE)
