"""Server sync: each active server whose module lists its accounts is compared with its services, directly (no
queued call), and the report (kept for the admin, printed by `manage.py server_sync`) names the accounts no service
knows and the Active or Suspended services whose account is missing. A server that cannot be read is reported,
and the others are still synced."""

import io

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from automation.scheduler import automation_run
from provisioning.models import ModuleCall, Server, ServerSyncReport, Service
from provisioning.modules.base import RemoteAccount
from tests.provisioning import listing_module
from tests.provisioning.modules_helpers import scripted_server, scripted_service

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fresh():
    listing_module.ACCOUNTS.clear()
    listing_module.FAIL.clear()
    yield
    listing_module.ACCOUNTS.clear()
    listing_module.FAIL.clear()


def _listing_server(name="lister"):
    server = scripted_server(name)
    Server.objects.filter(pk=server.pk).update(module="scripted_listing")
    server.refresh_from_db()
    return server


def _service(customer, server, username, status=Service.Status.ACTIVE):
    service = scripted_service(customer, server, status=status)
    Service.objects.filter(pk=service.pk).update(username=username, module="scripted_listing")
    return service


def test_the_sync_reports_unknown_accounts_and_missing_ones(customer):
    server = _listing_server()
    present = _service(customer, server, "alice")
    tagged = _service(customer, server, "renamed")
    gone = _service(customer, server, "bob")
    _service(customer, server, "carol", status=Service.Status.TERMINATED)  # its account may be gone: not missing
    listing_module.ACCOUNTS.extend(
        [
            RemoteAccount("alice"),
            RemoteAccount("other-name", service_id=tagged.pk),  # found by its tag
            RemoteAccount("mallory", domain="orphan.example"),
        ]
    )
    out = io.StringIO()
    call_command("server_sync", stdout=out)
    report = ServerSyncReport.objects.get(server=server)
    assert report.ok and (report.accounts_on_server, report.services_checked) == (3, 3)
    assert report.unknown_accounts == [{"username": "mallory", "service_id": None, "domain": "orphan.example"}]
    assert report.missing_accounts == [{"service_id": gone.pk, "username": "bob"}]
    printed = out.getvalue()
    assert "unknown account 'mallory'" in printed
    assert f"service #{gone.pk} (bob): its account is not on the server" in printed
    assert f"service #{present.pk} " not in printed and f"service #{tagged.pk} " not in printed
    assert not ModuleCall.objects.exists()  # a read: nothing queued


def test_a_server_that_cannot_be_read_is_reported_and_the_others_are_synced(customer):
    first, second = _listing_server("first"), _listing_server("second")
    listing_module.FAIL.append("The server refused the connection.")
    with pytest.raises(CommandError, match="could not be read"):
        call_command("server_sync", stdout=io.StringIO())
    assert set(ServerSyncReport.objects.values_list("server_id", "ok", "error")) == {
        (first.pk, False, "The server refused the connection."),
        (second.pk, False, "The server refused the connection."),
    }


def test_the_command_takes_one_server_and_refuses_a_server_it_cannot_sync(customer):
    server = _listing_server()
    plain = scripted_server("plain")  # its module cannot list accounts
    inactive = _listing_server("off")
    Server.objects.filter(pk=inactive.pk).update(is_active=False)
    call_command("server_sync", "--server", str(server.pk), stdout=io.StringIO())
    assert list(ServerSyncReport.objects.values_list("server_id", flat=True)) == [server.pk]
    for pk in (plain.pk, inactive.pk):
        with pytest.raises(CommandError, match="is not synced"):
            call_command("server_sync", "--server", str(pk))
    with pytest.raises(CommandError, match="There is no server #999999"):
        call_command("server_sync", "--server", "999999")


def test_server_sync_is_a_step_of_the_run(customer):
    import datetime

    server = _listing_server()
    _service(customer, server, "bob")
    outcome = automation_run(today=datetime.date(2026, 12, 1), only=["server_sync"], trigger="test")
    (step,) = outcome.steps
    assert step.counts == {"servers synced": 1, "missing accounts": 1}
    assert ServerSyncReport.objects.get(server=server).missing_accounts[0]["username"] == "bob"


def test_the_reports_are_read_only_in_the_admin(admin_client, customer):
    server = _listing_server()
    listing_module.ACCOUNTS.append(RemoteAccount("mallory"))
    call_command("server_sync", stdout=io.StringIO())
    report = ServerSyncReport.objects.get(server=server)
    listing = admin_client.get("/admin/provisioning/serversyncreport/")
    assert listing.status_code == 200 and "lister" in listing.content.decode()
    page = admin_client.get(f"/admin/provisioning/serversyncreport/{report.pk}/change/")
    assert page.status_code == 200 and "mallory" in page.content.decode()
    assert admin_client.get("/admin/provisioning/serversyncreport/add/").status_code == 403
