"""The API's doc page (issue 19: "the doc page renders") in Chromium, under the portal's Content-Security-Policy:
Swagger UI from our own static files draws the schema's operations."""

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import ARTIFACTS
from tests.browser.pages import watch_csp_violations

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_the_doc_page_draws_the_api_with_no_csp_violation(page, live_server):
    violations = watch_csp_violations(page.context)
    failed = []
    page.on("requestfailed", lambda request: failed.append(request.url))
    page.goto(f"{live_server.url}/api/docs/")
    expect(page.locator(".swagger-ui .info .title")).to_contain_text("Portal API")
    expect(page.locator(".opblock-summary-path", has_text="/api/v1/invoices/").first).to_be_visible()
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "api-docs.png"), full_page=True)
    assert violations == [] and failed == []


def test_an_admin_makes_an_api_credential_by_clicking_and_sees_the_secret_once(page, live_server, admin_user):
    from api.models import ApiCredential
    from tests.browser.pages import log_in_to_the_admin

    violations = watch_csp_violations(page.context)
    log_in_to_the_admin(page, live_server, admin_user)
    page.goto(f"{live_server.url}/admin/api/apicredential/")
    page.click("a.addlink")
    page.fill("#id_name", "accounting-export")
    page.check("#id_read_only")
    page.click("input[type=submit][value='Make the credential']")
    expect(page.locator(".credential-secret")).to_be_visible()
    made = ApiCredential.objects.get(name="accounting-export")
    expect(page.locator(".credential-identifier")).to_have_text(made.identifier)
    page.screenshot(path=str(ARTIFACTS / "admin-new-api-credential.png"), full_page=True)
    assert violations == []
