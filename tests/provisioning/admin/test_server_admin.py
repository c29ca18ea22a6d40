"""The server admin: the module's credentials are password inputs never rendered back (the page names which are
stored, never their values), its server settings are its declared fields, saving goes through server_save
(checked, encrypted, logged by field name), the test-connection button reaches the module, and a server holding
accounts cannot be deleted."""

import pytest
from django.urls import reverse

from core import crypto
from notifications.models import ActivityLog
from provisioning.models import Server
from tests.provisioning.admin.conftest import RIGHT_TOKEN

pytestmark = pytest.mark.django_db


def _post(server: Server | None = None, **changes) -> dict:
    data = {
        "name": server.name if server else "panel-2",
        "hostname": server.hostname if server else "panel-2.example.net",
        "ip_address": "",
        "port": "",
        "secure": "on",
        "module": server.module if server else "scripted",
        "username": "",
        "max_accounts": str(server.max_accounts) if server else "50",
        "is_active": "on",
        "notes": "",
        "credential_api_token": "",
        "server_setting_region": (server.settings or {}).get("region", "eu") if server else "eu",
    }
    if server:
        data["groups"] = [str(pk) for pk in server.groups.values_list("pk", flat=True)]
    return {**data, **changes}


def test_the_stored_token_never_appears_on_the_servers_pages(admin_client, server, scripted_service):
    pages = [
        reverse("admin:provisioning_server_changelist"),
        reverse("admin:provisioning_server_change", args=[server.pk]),
        reverse("admin:provisioning_service_change", args=[scripted_service.pk]),
    ]
    for url in pages:
        page = admin_client.get(url).content.decode()
        assert RIGHT_TOKEN not in page, url
        assert server.credentials_token not in page, url
    change = admin_client.get(pages[1]).content.decode()
    assert 'name="credential_api_token"' in change and 'type="password"' in change
    assert "api_token" in change  # which credential is stored: its name only
    assert "1 of at most 10" in change  # the accounts it holds


def test_a_blank_credential_keeps_the_stored_one_and_a_new_one_replaces_it_logged_by_name(admin_client, server):
    url = reverse("admin:provisioning_server_change", args=[server.pk])
    assert admin_client.post(url, _post(server, max_accounts="20")).status_code == 302
    server.refresh_from_db()
    assert server.max_accounts == 20 and crypto.decrypt_json(server.credentials_token) == {"api_token": RIGHT_TOKEN}
    assert admin_client.post(url, _post(server, credential_api_token="brand-new-token")).status_code == 302
    server.refresh_from_db()
    assert crypto.decrypt_json(server.credentials_token) == {"api_token": "brand-new-token"}
    log = list(ActivityLog.objects.filter(subject_type="provisioning.server").values_list("message", flat=True))
    assert any("max_accounts" in line for line in log)
    assert any("credential api_token" in line for line in log)
    assert not any("brand-new-token" in line or RIGHT_TOKEN in line for line in log)


def test_adding_a_server_encrypts_its_credentials(admin_client, group):
    response = admin_client.post(
        reverse("admin:provisioning_server_add"), _post(credential_api_token="first-token", groups=[str(group.pk)])
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    server = Server.objects.get(name="panel-2")
    assert "first-token" not in server.credentials_token
    assert crypto.decrypt_json(server.credentials_token) == {"api_token": "first-token"}
    assert list(server.groups.all()) == [group]


def test_a_server_setting_that_breaks_its_declaration_saves_nothing(admin_client, server):
    url = reverse("admin:provisioning_server_change", args=[server.pk])
    response = admin_client.post(url, _post(server, server_setting_region="x" * 300, max_accounts="99"))
    assert response.status_code == 200
    assert "At most 255 characters." in response.content.decode()
    server.refresh_from_db()
    assert server.max_accounts == 10 and server.settings == {"region": "eu"}


def test_the_test_connection_button_with_the_right_and_a_wrong_token(admin_client, server):
    change = reverse("admin:provisioning_server_change", args=[server.pk])
    button = reverse("admin:provisioning_server_test_connection", args=[server.pk])
    assert button in admin_client.get(change).content.decode()
    assert admin_client.get(button).status_code == 405  # a POST only
    page = admin_client.post(button, follow=True).content.decode()
    assert "Connection ok: Connected to panel-1.example.net." in page
    server.refresh_from_db()
    assert server.last_test_ok is True

    admin_client.post(change, _post(server, credential_api_token="wrong-token"))
    page = admin_client.post(button, follow=True).content.decode()
    assert "Connection failed: The panel refused the API token." in page
    server.refresh_from_db()
    assert server.last_test_ok is False and "refused" in server.last_test_message
    assert "wrong-token" not in page


def test_testing_the_connection_needs_the_change_permission(staff_with, server):
    viewer = staff_with("provisioning.view_server")
    change = reverse("admin:provisioning_server_change", args=[server.pk])
    button = reverse("admin:provisioning_server_test_connection", args=[server.pk])
    assert button not in viewer.get(change).content.decode()
    assert viewer.post(button).status_code == 403
    server.refresh_from_db()
    assert server.last_tested_at is None


def test_a_server_holding_accounts_is_not_deleted(admin_client, server, scripted_service):
    url = reverse("admin:provisioning_server_delete", args=[server.pk])
    response = admin_client.post(url, {"post": "yes"}, follow=True)
    assert "still holds accounts" in response.content.decode()
    assert Server.objects.filter(pk=server.pk).exists()


def test_an_empty_server_is_deleted(admin_client, server):
    url = reverse("admin:provisioning_server_delete", args=[server.pk])
    assert admin_client.post(url, {"post": "yes"}).status_code == 302
    assert not Server.objects.filter(pk=server.pk).exists()


def test_the_server_list_does_not_query_per_row(admin_client, server, group, django_assert_max_num_queries):
    for n in range(15):
        Server.objects.create(name=f"more-{n}", hostname=f"m{n}.example.net", module="scripted")
    with django_assert_max_num_queries(8):
        response = admin_client.get(reverse("admin:provisioning_server_changelist"))
    assert response.status_code == 200 and "more-14" in response.content.decode()
