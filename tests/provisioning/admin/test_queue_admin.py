"""The module queue's admin: a read-only list that does not query per row, Retry and Mark resolved (a note is
required, asked on a page of its own) behind their own permissions, and the to-dos, open first, marked done."""

import pytest
from django.contrib.admin import helpers
from django.urls import reverse

from notifications.models import ActivityLog
from provisioning.models import ModuleCall, ModuleTodo
from provisioning.modules.base import Action
from provisioning.queue.requests import action_key, module_call_request
from tests import module_package

pytestmark = pytest.mark.django_db

CHANGELIST = "admin:provisioning_modulecall_changelist"


def _failed_call(service, committed, nonce="n1") -> ModuleCall:
    service.module_settings = {"fail": "permanent"}
    service.save(update_fields=["module_settings"])
    requested = committed(
        module_call_request,
        service=service,
        action=Action.CHANGE_PACKAGE,
        actor=None,
        key=action_key(service.pk, Action.CHANGE_PACKAGE, nonce),
        params={"settings": {}},
    )
    call = ModuleCall.objects.get(pk=requested.call.pk)
    assert call.status == ModuleCall.Status.FAILED
    return call


def test_the_call_list_and_page_show_the_outcome_and_offer_nothing_to_edit(admin_client, scripted_service, committed):
    call = _failed_call(scripted_service, committed)
    page = admin_client.get(reverse(CHANGELIST)).content.decode()
    assert "The panel refused the account" in page and "change_package" in page
    change = admin_client.get(reverse("admin:provisioning_modulecall_change", args=[call.pk])).content.decode()
    assert call.idempotency_key in change and "The panel refused the account" in change
    assert 'name="_save"' not in change
    assert "account-pass-9876" not in change and call.params_token not in change
    assert admin_client.get(reverse(CHANGELIST), {"module": "scripted", "status__exact": "failed"}).status_code == 200


def test_retry_from_the_admin_runs_the_same_call_again(admin_client, scripted_service, committed):
    call = _failed_call(scripted_service, committed)
    scripted_service.module_settings = {"fail": ""}
    scripted_service.save(update_fields=["module_settings"])
    data = {"action": "retry", helpers.ACTION_CHECKBOX_NAME: [str(call.pk)]}
    committed(admin_client.post, reverse(CHANGELIST), data)
    call.refresh_from_db()
    assert call.status == ModuleCall.Status.SUCCEEDED and call.attempts == 2
    assert [entry[1] for entry in module_package.CALLS] == [call.idempotency_key, call.idempotency_key]
    assert ActivityLog.objects.filter(action="module_call_retried", subject_id=call.pk).exists()


def test_resolve_asks_for_a_note_on_its_own_page_first(admin_client, scripted_service, committed):
    call = _failed_call(scripted_service, committed)
    data = {"action": "resolve", helpers.ACTION_CHECKBOX_NAME: [str(call.pk)]}
    page = admin_client.post(reverse(CHANGELIST), data)
    assert page.status_code == 200 and 'name="note"' in page.content.decode()
    call.refresh_from_db()
    assert call.status == ModuleCall.Status.FAILED
    blank = admin_client.post(reverse(CHANGELIST), {**data, "confirm": "1", "note": "  "})
    assert blank.status_code == 200 and "This field is required." in blank.content.decode()
    call.refresh_from_db()
    assert call.status == ModuleCall.Status.FAILED
    admin_client.post(reverse(CHANGELIST), {**data, "confirm": "1", "note": "Changed the package by hand."})
    call.refresh_from_db()
    assert call.status == ModuleCall.Status.RESOLVED and call.resolution_note == "Changed the package by hand."


def test_retry_and_resolve_need_their_own_permissions(staff_with, scripted_service, committed):
    call = _failed_call(scripted_service, committed)
    viewer = staff_with("provisioning.view_modulecall")
    page = viewer.get(reverse(CHANGELIST)).content.decode()
    assert 'value="retry"' not in page and 'value="resolve"' not in page
    viewer.post(reverse(CHANGELIST), {"action": "retry", helpers.ACTION_CHECKBOX_NAME: [str(call.pk)]})
    call.refresh_from_db()
    assert call.status == ModuleCall.Status.FAILED
    retrier = staff_with("provisioning.view_modulecall", "provisioning.retry_modulecall")
    page = retrier.get(reverse(CHANGELIST)).content.decode()
    assert 'value="retry"' in page and 'value="resolve"' not in page


def test_the_call_list_does_not_query_per_row(admin_client, scripted_service, committed, django_assert_max_num_queries):
    for n in range(12):
        _failed_call(scripted_service, committed, nonce=f"n{n}")
    with django_assert_max_num_queries(10):
        response = admin_client.get(reverse(CHANGELIST))
    assert response.status_code == 200 and response.content.decode().count("The panel refused the account") >= 12


def test_todos_list_open_first_and_are_marked_done(admin_client, scripted_service, committed):
    scripted_service.module = "manual"
    scripted_service.save(update_fields=["module"])
    for nonce in ("a", "b"):
        committed(
            module_call_request,
            service=scripted_service,
            action=Action.CHANGE_PACKAGE,
            actor=None,
            key=action_key(scripted_service.pk, Action.CHANGE_PACKAGE, nonce),
            params={"settings": {}},
        )
    first, second = ModuleTodo.objects.order_by("pk")
    url = reverse("admin:provisioning_moduletodo_changelist")
    admin_client.post(url, {"action": "mark_done", helpers.ACTION_CHECKBOX_NAME: [str(first.pk)]})
    first.refresh_from_db()
    assert first.done_at is not None
    page = admin_client.get(url).content.decode()
    assert page.index(f"/moduletodo/{second.pk}/") < page.index(f"/moduletodo/{first.pk}/")  # open first
