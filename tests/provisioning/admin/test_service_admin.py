"""The service page's module actions: offered only when the FSM allows them and the admin holds their
permission, each a POST calling provisioning.services.module_actions, refusals shown as messages; change package
and password once per form nonce; the password masked and revealed only with a permission, each reveal logged;
the module log, account details, usage, and why a Pending service waits."""

import datetime
import re

import pytest
from django.urls import reverse

from core import crypto
from notifications.models import ActivityLog
from provisioning.models import ModuleCall, Service, ServiceUsage
from tests import module_package

pytestmark = pytest.mark.django_db


def _action(service, slug: str) -> str:
    return reverse("admin:provisioning_service_action", args=[service.pk, slug])


def _nonce(page: str) -> str:
    return re.search(r'name="nonce" value="([0-9a-f]{32})"', page).group(1)


def test_an_active_service_offers_suspend_terminate_and_changes_but_not_unsuspend(admin_client, scripted_service):
    page = admin_client.get(reverse("admin:provisioning_service_change", args=[scripted_service.pk])).content.decode()
    for slug in ("suspend", "terminate", "change_package", "change_password"):
        assert _action(scripted_service, slug) in page, slug
    assert _action(scripted_service, "unsuspend") not in page
    assert "account-pass-9876" not in page and "••••••••" in page and _action(scripted_service, "reveal") in page


def test_suspend_for_abuse_then_unsuspend_go_to_the_module(admin_client, scripted_service, committed):
    response = committed(admin_client.post, _action(scripted_service, "suspend"), {"reason": "abuse"})
    assert response.status_code == 302
    scripted_service.refresh_from_db()
    assert (scripted_service.status, scripted_service.suspension_reason) == ("suspended", "abuse")
    assert [entry[0] for entry in module_package.CALLS] == ["suspend"]
    page = admin_client.get(reverse("admin:provisioning_service_change", args=[scripted_service.pk])).content.decode()
    assert _action(scripted_service, "unsuspend") in page and _action(scripted_service, "suspend") not in page
    committed(admin_client.post, _action(scripted_service, "unsuspend"), {})
    scripted_service.refresh_from_db()
    assert scripted_service.status == "active"
    assert [entry[0] for entry in module_package.CALLS] == ["suspend", "unsuspend"]


def test_a_refused_action_is_a_message_and_changes_nothing(admin_client, scripted_service):
    response = admin_client.post(_action(scripted_service, "unsuspend"), {}, follow=True)
    assert response.status_code == 200
    assert "unsuspend is not possible" in response.content.decode()
    bad = admin_client.post(_action(scripted_service, "suspend"), {"reason": "overdue"})
    assert bad.status_code == 200 and "Select a valid choice" in bad.content.decode()
    scripted_service.refresh_from_db()
    assert scripted_service.status == "active" and not ModuleCall.objects.exists()


def test_each_action_needs_its_own_permission(staff_with, scripted_service):
    viewer = staff_with("provisioning.view_service", "provisioning.change_service")
    page = viewer.get(reverse("admin:provisioning_service_change", args=[scripted_service.pk])).content.decode()
    assert "/module/" not in page
    for slug in ("suspend", "terminate", "change_package", "change_password", "reveal"):
        assert viewer.post(_action(scripted_service, slug), {"reason": "admin"}).status_code == 403, slug
    scripted_service.refresh_from_db()
    assert scripted_service.status == "active"
    suspender = staff_with("provisioning.view_service", "provisioning.suspend_service")
    page = suspender.get(reverse("admin:provisioning_service_change", args=[scripted_service.pk])).content.decode()
    assert _action(scripted_service, "suspend") in page and _action(scripted_service, "terminate") not in page


def test_change_package_validates_the_settings_and_a_double_submit_is_one_call(
    admin_client, scripted_service, committed
):
    form = admin_client.get(_action(scripted_service, "change_package")).content.decode()
    nonce = _nonce(form)
    bad = admin_client.post(_action(scripted_service, "change_package"), {"nonce": nonce, "fail_times": "101"})
    assert bad.status_code == 200 and "Must be at most 100." in bad.content.decode()
    assert not ModuleCall.objects.exists()
    data = {"nonce": nonce, "fail": "", "fail_times": "4", "sleep": "0"}
    for _ in range(2):
        assert committed(admin_client.post, _action(scripted_service, "change_package"), data).status_code == 302
    call = ModuleCall.objects.get(action="change_package")
    assert call.status == "succeeded"
    assert [entry[0] for entry in module_package.CALLS] == ["change_package"]
    scripted_service.refresh_from_db()
    assert scripted_service.module_settings["fail_times"] == 4


def test_change_password_blank_generates_one_shown_once_and_a_double_submit_is_one_call(
    admin_client, scripted_service, committed
):
    nonce = _nonce(admin_client.get(_action(scripted_service, "change_password")).content.decode())
    short = admin_client.post(_action(scripted_service, "change_password"), {"nonce": nonce, "password": "short"})
    assert "12 to 64 characters" in short.content.decode() and not ModuleCall.objects.exists()
    first = committed(admin_client.post, _action(scripted_service, "change_password"), {"nonce": nonce})
    shown = re.search(r'<code class="shown-password">([^<]+)</code>', first.content.decode()).group(1)
    assert len(shown) == 20
    again = committed(admin_client.post, _action(scripted_service, "change_password"), {"nonce": nonce})
    assert shown not in again.content.decode() and "asked for already" in again.content.decode()
    assert [entry[0] for entry in module_package.CALLS] == ["change_password"]
    scripted_service.refresh_from_db()
    assert crypto.decrypt(scripted_service.password_token) == shown


def test_reveal_needs_its_permission_and_each_reveal_is_logged(staff_with, scripted_service):
    change = reverse("admin:provisioning_service_change", args=[scripted_service.pk])
    revealer = staff_with("provisioning.view_service", "provisioning.reveal_password_service")
    assert "account-pass-9876" not in revealer.get(change).content.decode()
    assert "account-pass-9876" not in revealer.get(_action(scripted_service, "reveal")).content.decode()
    for _ in range(2):
        assert "account-pass-9876" in revealer.post(_action(scripted_service, "reveal"), {}).content.decode()
    entries = ActivityLog.objects.filter(action="service_password_revealed", subject_id=scripted_service.pk)
    assert entries.count() == 2
    assert all("account-pass-9876" not in entry.message for entry in entries)


def test_the_page_shows_the_account_the_module_log_the_usage_and_why_a_pending_service_waits(
    admin_client, scripted_service, committed
):
    scripted_service.account = {"host": "panel-1.example.net", "database": "db7"}
    scripted_service.save(update_fields=["account"])
    ServiceUsage.objects.create(
        service=scripted_service, recorded_on=datetime.date(2026, 12, 1), figures={"disk_bytes": 1234}
    )
    committed(admin_client.post, _action(scripted_service, "suspend"), {"reason": "admin"})
    page = admin_client.get(reverse("admin:provisioning_service_change", args=[scripted_service.pk])).content.decode()
    assert "db7" in page and "disk_bytes: 1234" in page
    call = ModuleCall.objects.get(action="suspend")
    assert reverse("admin:provisioning_modulecall_change", args=[call.pk]) in page

    pending = Service.objects.filter(pk=scripted_service.pk)
    ModuleCall.objects.create(
        service=scripted_service,
        module="scripted",
        action="create",
        idempotency_key="x:create",
        error="No server has room.",
        requested_by="system",
    )
    pending.update(status="pending")
    page = admin_client.get(reverse("admin:provisioning_service_change", args=[scripted_service.pk])).content.decode()
    assert "Why it waits" in page and "No server has room." in page
