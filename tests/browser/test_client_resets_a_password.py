"""A client opens a service the module set up, reads its connection details, resets the password and sees the
new one once, set on the server; back on the service page it is not shown again. No CSP violation on the way.
Chromium; the service is set up through the queue with the "scripted" module (tests/module_package)."""

import pytest
from playwright.sync_api import expect

from core import crypto
from provisioning.models import ModuleCall, Server, ServerGroup, Service
from provisioning.services import service_setup
from tests import module_package
from tests.browser.conftest import ARTIFACTS
from tests.browser.pages import log_in_to_the_client_area, watch_csp_violations
from tests.factories import ProductFactory, ServiceFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def database_service(customer):
    module_package.reset()
    group = ServerGroup.objects.create(name="Databases")
    server = Server.objects.create(
        name="db-1",
        hostname="db1.example.net",
        module="scripted",
        max_accounts=10,
        credentials_token=crypto.encrypt_json({"api_token": "right-token"}),
    )
    server.groups.add(group)
    product = ProductFactory(name="Managed PostgreSQL", module="scripted", server_group=group)
    service = ServiceFactory(
        client=customer, product=product, module="scripted", status=Service.Status.PENDING, domain="shop.example.com"
    )
    service_setup(service=service, actor=None)  # commits: the create runs (eager tasks in the test settings)
    service.refresh_from_db()
    assert service.status == Service.Status.ACTIVE
    yield service
    module_package.reset()


def test_a_client_resets_the_password_of_a_database_and_sees_it_once(page, live_server, customer, database_service):
    violations = watch_csp_violations(page.context)
    service = database_service
    log_in_to_the_client_area(page, live_server, customer)
    page.click("nav >> text=Services")
    page.click("tr:has-text('shop.example.com') >> a")

    connection = page.locator("#connection")
    expect(connection.locator("tr:has-text('Host') td")).to_have_text("db1.example.net")
    expect(connection.locator("tr:has-text('Port') td")).to_have_text("5432")
    expect(connection.locator("tr:has-text('Database') td")).to_have_text(f"db{service.pk}")
    expect(connection.locator("tr:has-text('Username') td")).to_have_text(service.username)
    expect(page.locator("main")).not_to_contain_text("s3cret-from-module")
    page.screenshot(path=str(ARTIFACTS / "client-service-connection.png"), full_page=True)

    page.click("button:has-text('Reset password')")
    expect(page.locator("#new-password h2")).to_have_text("Your new password")
    password = page.locator("p.secret code").inner_text()
    assert len(password) == 20
    expect(page.locator("#password-state")).to_have_text("It is set on the server: use it from now on.")
    page.screenshot(path=str(ARTIFACTS / "client-password-shown-once.png"), full_page=True)
    service.refresh_from_db()
    assert crypto.decrypt(service.password_token) == password
    assert ModuleCall.objects.get(service=service, action="change_password").status == "succeeded"

    page.click("text=Back to the service")
    expect(page.locator("#password")).to_contain_text("It is set on the server")
    expect(page.locator("main")).not_to_contain_text(password)
    assert not violations, violations
