"""The client's service page (issue 17, item 8): the connection details the module's create returned (never the
password), where a Pending service's setup stands (never the technical error), the latest usage, and "reset
password": a generated password shown once on the page that answers the POST, one call per form (its nonce).
The welcome email carries the same details and says where to get a password. Services are set up through the
queue with the third-party "scripted" module (tests/module_package), whose create returns host, port and database."""

import datetime
import re

import pytest
from django.test import Client as HttpClient

from core import crypto
from notifications.emails.catalog import TEMPLATES, template_files
from notifications.emails.rendering import email_render
from notifications.models import EmailTemplate, OutboundEmail
from provisioning.models import ModuleCall, ServerGroup, Service, ServiceUsage
from provisioning.queue.requests import new_nonce
from provisioning.services import service_setup
from provisioning.services.services import welcome_context
from tests import module_package
from tests.factories import ClientFactory, ServiceFactory, scripted_pending_service, scripted_server

pytestmark = pytest.mark.django_db

MODULE_PASSWORD = "s3cret-from-module"  # what the scripted module's create returns as the account's password
NONCE = re.compile(r'name="nonce" value="([0-9a-f]{32})"')
SHOWN = re.compile(r'<p class="secret"><code>([^<]+)</code></p>')


@pytest.fixture(autouse=True)
def _fresh_module():
    module_package.reset()
    yield
    module_package.reset()


@pytest.fixture
def group():
    group = ServerGroup.objects.create(name="Databases")
    scripted_server(group, "db-1", hostname="db1.example.net")
    return group


@pytest.fixture
def browser(customer):
    browser = HttpClient(raise_request_exception=False)
    browser.force_login(customer.user)
    return browser


def _pending(customer, group, **settings) -> Service:
    return scripted_pending_service(customer, group, product_name="Managed database", **settings)


def _set_up(customer, group, django_capture_on_commit_callbacks, **settings) -> Service:
    service = _pending(customer, group, **settings)
    with django_capture_on_commit_callbacks(execute=True):
        service_setup(service=service, actor=None)
    service.refresh_from_db()
    return service


@pytest.fixture
def active(customer, group, django_capture_on_commit_callbacks):
    service = _set_up(customer, group, django_capture_on_commit_callbacks)
    assert service.status == Service.Status.ACTIVE
    return service


def _page(browser, service) -> str:
    response = browser.get(f"/services/{service.pk}/")
    assert response.status_code == 200
    return response.content.decode()


def _reset(browser, service, nonce, capture=None):
    """POST the reset form; with `capture`, its after-commit work (the module call's task) runs in-process."""
    if capture is None:
        return browser.post(f"/services/{service.pk}/password/", {"nonce": nonce})
    with capture(execute=True):
        return browser.post(f"/services/{service.pk}/password/", {"nonce": nonce})


def _password_calls(service) -> int:
    return ModuleCall.objects.filter(service=service, action="change_password").count()


# --- the page --------------------------------------------------------------------------------------------------


def test_the_page_shows_the_connection_details_the_module_returned_and_never_the_password(browser, active):
    html = _page(browser, active)
    connection = html.split('<section id="connection">')[1].split("</section>")[0]
    for label, value in [
        ("Host", "db1.example.net"),
        ("Port", "5432"),
        ("Database", f"db{active.pk}"),
        ("Username", active.username),
    ]:
        assert f"<tr><th>{label}</th><td><code>{value}</code></td></tr>" in connection
    assert "DNS zone" not in connection  # the module returned no zone: no empty row for it
    assert MODULE_PASSWORD not in html and active.password_token not in html
    assert "Reset password" in html and NONCE.search(html)


def test_a_zone_is_shown_when_the_module_returned_one(browser, customer):
    service = ServiceFactory(
        client=customer, module="scripted", username="example.org", account={"zone": "example.org"}
    )
    html = _page(browser, service)
    assert "<tr><th>DNS zone</th><td><code>example.org</code></td></tr>" in html
    assert "<th>Database</th>" not in html and "<th>Port</th>" not in html
    # A DNS zone has no password: no reset is offered.
    assert "Reset password" not in html


def test_a_pending_service_says_it_is_being_set_up_or_delayed_and_never_the_technical_error(
    browser, customer, group, django_capture_on_commit_callbacks
):
    waiting = _pending(customer, group)
    assert "This service is not set up yet" in _page(browser, waiting)

    queued = _pending(customer, group)
    service_setup(service=queued, actor=None)  # its task is sent after a commit that does not come here
    assert ModuleCall.objects.get(service=queued).status == "queued"
    assert "This service is being set up on its server" in _page(browser, queued)

    retrying = _set_up(customer, group, django_capture_on_commit_callbacks, fail="transient", fail_times=5)
    html = _page(browser, retrying)
    assert "a first attempt did not get through and is tried again by itself" in html
    assert "did not answer" not in html

    failed = _set_up(customer, group, django_capture_on_commit_callbacks, fail="permanent")
    call = ModuleCall.objects.get(service=failed)
    assert (failed.status, call.status) == (Service.Status.PENDING, "failed")
    html = _page(browser, failed)
    assert "The setup of this service is delayed. Our team has been told: it waits in their queue." in html
    assert call.error and call.error not in html and "package does not exist" not in html
    for service in (waiting, queued, retrying, failed):
        html = _page(browser, service)
        assert 'id="connection"' not in html and "Reset password" not in html


def test_the_latest_usage_is_shown_in_human_units_with_its_limits(browser, active):
    ServiceUsage.objects.create(
        service=active, recorded_on=datetime.date(2026, 12, 1), figures={"disk_bytes": 1}, limits={}
    )
    ServiceUsage.objects.create(
        service=active,
        recorded_on=datetime.date(2026, 12, 5),
        figures={"disk_bytes": 8_200_000, "records": 12},
        limits={"disk_bytes": 1_073_741_824},
    )
    usage = _page(browser, active).split('<section id="usage">')[1].split("</section>")[0]
    assert "As measured on 2026-12-05." in usage
    disk = usage.split("Disk used")[1].split("</tr>")[0]
    assert "7.8\xa0MB" in disk and "1.0\xa0GB" in disk
    records = usage.split("DNS records")[1].split("</tr>")[0]
    assert ">12<" in records and "—" in records  # no limit known


def test_the_page_reads_in_a_bounded_number_of_queries(browser, active, django_assert_max_num_queries):
    for day in range(1, 6):
        ServiceUsage.objects.create(
            service=active, recorded_on=datetime.date(2026, 12, day), figures={"disk_bytes": day}
        )
    browser.get(f"/services/{active.pk}/")  # the session's first read
    with django_assert_max_num_queries(9):
        _page(browser, active)


# --- reset password --------------------------------------------------------------------------------------------


def test_reset_password_shows_the_new_password_once_and_sets_it_through_the_module(
    browser, active, django_capture_on_commit_callbacks
):
    nonce = NONCE.search(_page(browser, active)).group(1)
    response = _reset(browser, active, nonce, django_capture_on_commit_callbacks)
    assert response.status_code == 200 and not response.has_header("Location")
    assert response["Cache-Control"] == "private, no-store"
    html = response.content.decode()
    password = SHOWN.search(html).group(1)
    assert len(password) == 20 and password != MODULE_PASSWORD
    assert "This is the only time it is shown." in html
    # Here the call's task runs when the test's capture ends, after the answer (the browser test sees "set").
    assert "It is being set on the server" in html
    # The module got it, the service keeps it encrypted, and neither the session nor a URL holds it.
    asked = next(call for call in module_package.CALLS if call[0] == "change_password")
    assert asked[2] == {"password": password}
    active.refresh_from_db()
    assert crypto.decrypt(active.password_token) == password
    assert password not in str(dict(browser.session.items())) and password not in response.request["PATH_INFO"]

    # The same form again (a double submit, a reload of the answer): the same call, the password not shown again.
    again = _reset(browser, active, nonce, django_capture_on_commit_callbacks)
    assert again.status_code == 200 and password not in again.content.decode()
    assert "This reset was already sent" in again.content.decode()
    assert _password_calls(active) == 1
    assert len([call for call in module_package.CALLS if call[0] == "change_password"]) == 1

    # The service page says what became of it, without the password, and offers another reset.
    html = _page(browser, active)
    assert password not in html
    assert "Your last password reset" in html and "It is set on the server" in html
    assert NONCE.search(html).group(1) != nonce


def test_a_reset_on_its_way_says_so_and_the_page_offers_no_second_one_meanwhile(browser, active):
    response = _reset(browser, active, new_nonce())  # no commit here: the call stays queued
    html = response.content.decode()
    assert SHOWN.search(html) and "It is being set on the server" in html
    assert ModuleCall.objects.get(service=active, action="change_password").status == "queued"
    page = _page(browser, active)
    assert "It is being set on the server" in page and "Reset password</button>" not in page


def test_a_reset_the_server_refuses_says_so_honestly_without_the_technical_error(
    browser, active, django_capture_on_commit_callbacks
):
    Service.objects.filter(pk=active.pk).update(module_settings={"fail": "permanent"})
    assert _reset(browser, active, new_nonce(), django_capture_on_commit_callbacks).status_code == 200
    call = ModuleCall.objects.get(service=active, action="change_password")
    assert call.status == "failed"
    html = _page(browser, active)
    assert "The server did not confirm the new password, so it may not work." in html
    assert call.error not in html
    assert "Reset password</button>" in html  # a failed change waits for an admin; the client may try again
    active.refresh_from_db()
    assert crypto.decrypt(active.password_token) == MODULE_PASSWORD  # the refused password is not kept


@pytest.mark.parametrize("nonce", ["", "x", "A" * 32, "0" * 31, "0" * 33, "0" * 31 + "\x00", "<b>" * 11])
def test_a_bad_or_missing_nonce_is_refused_and_asks_for_nothing(browser, active, nonce):
    response = _reset(browser, active, nonce)
    assert response.status_code == 302 and response["Location"] == f"/services/{active.pk}/"
    assert _password_calls(active) == 0
    assert "This form has expired" in browser.get(response["Location"]).content.decode()


@pytest.mark.parametrize("status", [Service.Status.PENDING, Service.Status.SUSPENDED, Service.Status.TERMINATED])
def test_a_service_that_is_not_active_offers_no_reset_and_refuses_one(browser, active, status):
    Service.objects.filter(pk=active.pk).update(status=status)
    assert "Reset password</button>" not in _page(browser, active)
    response = _reset(browser, active, new_nonce())
    assert response.status_code == 302 and _password_calls(active) == 0
    assert "does not offer a password reset now" in browser.get(response["Location"]).content.decode()


def test_a_service_without_a_module_offers_no_reset(browser, customer):
    service = ServiceFactory(client=customer, password_token=crypto.encrypt("by-hand"))
    assert "Reset password" not in _page(browser, service)
    assert _reset(browser, service, new_nonce()).status_code == 302
    assert not ModuleCall.objects.exists()


def test_another_clients_service_is_404_and_nothing_is_asked(active, usd):
    stranger = ClientFactory(currency=usd)
    browser = HttpClient()
    browser.force_login(stranger.user)
    assert browser.get(f"/services/{active.pk}/").status_code == 404
    assert browser.post(f"/services/{active.pk}/password/", {"nonce": new_nonce()}).status_code == 404
    assert _password_calls(active) == 0


def test_a_reset_needs_a_login_and_a_post(active):
    anonymous = HttpClient()
    response = anonymous.post(f"/services/{active.pk}/password/", {"nonce": new_nonce()})
    assert response.status_code == 302 and response["Location"].startswith("/login/")
    assert _password_calls(active) == 0


def test_the_reset_form_carries_a_csrf_token(active, customer):
    browser = HttpClient(enforce_csrf_checks=True)
    browser.force_login(customer.user)
    html = browser.get(f"/services/{active.pk}/").content.decode()
    assert 'name="csrfmiddlewaretoken"' in html.split('<section id="password">')[1]
    assert browser.post(f"/services/{active.pk}/password/", {"nonce": new_nonce()}).status_code == 403
    assert _password_calls(active) == 0


# --- the welcome email -----------------------------------------------------------------------------------------


def _render(name: str, context: dict):
    subject, text, html = template_files(name)
    return email_render(subject=subject, body_text=text, body_html=html, context=context)


def test_the_welcome_email_queued_by_the_create_carries_the_connection_details_and_no_password(active):
    email = OutboundEmail.objects.get(idempotency_key=f"service_welcome:{active.pk}")
    template = EmailTemplate.objects.get(name=email.template)
    rendered = email_render(
        subject=template.subject, body_text=template.body_text, body_html=template.body_html, context=email.context
    )
    lines = ["Host:     db1.example.net", "Port:     5432", f"Database: db{active.pk}", f"Username: {active.username}"]
    for line in lines:
        assert line in rendered.body_text
    assert f'<th align="left">Database</th><td><code>db{active.pk}</code></td>' in rendered.body_html
    assert 'choose "Reset password": the new password is shown there, once.' in rendered.body_text
    assert "DNS zone" not in rendered.body_text
    for part in (rendered.subject, rendered.body_text, rendered.body_html, str(email.context)):
        assert MODULE_PASSWORD not in part


@pytest.mark.parametrize("name", ["service_welcome", "hosting_welcome"])
def test_the_welcome_templates_declare_the_details_and_show_only_those_present(name, customer):
    assert {"username", "host", "port", "database", "zone"} <= set(TEMPLATES[name].variables)
    without_module = welcome_context(ServiceFactory(client=customer, domain="plain.example.com"))
    plain = _render(name, without_module)
    assert "How to connect" not in plain.body_text and "How to connect" not in plain.body_html
    assert "Reset password" not in plain.body_text

    zone = welcome_context(
        ServiceFactory(client=customer, module="scripted", username="zone.example", account={"zone": "zone.example"})
    )
    dns = _render(name, zone)
    assert "DNS zone: zone.example" in dns.body_text and "Host:" not in dns.body_text
    assert "Reset password" not in dns.body_text  # a zone has no password to reset

    hostile = _render(name, {**without_module, "host": "<script>x</script>", "username": "u"})
    assert "<script>" not in hostile.body_html and "&lt;script&gt;" in hostile.body_html
