"""Hooks: after-commit hooks from the project and from the packages a setting names, pre-hooks that may veto an
action before it writes, and the switches an admin turns hooks off with (a reason, the audit, the trigger map)."""

import importlib
import logging
import sys

import pytest
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from notifications.audit import audit_for
from notifications.bus import dispatch, emit, unregister
from notifications.hook_switches import hook_switch_set, known_hooks
from notifications.hooks import Veto, load_hook_packages, pre, pre_hook, unregister_pre_hook
from notifications.models import ActivityLog, AuditEntry, Event, HandlerRun, HookSwitch
from notifications.reactions import trigger_map

pytestmark = pytest.mark.django_db

PACKAGE = "tests.hook_package"


@pytest.fixture
def hook_package(settings):
    """PORTAL_HOOK_PACKAGES names the test package; it is loaded as notifications' ready() loads it."""
    settings.PORTAL_HOOK_PACKAGES = [PACKAGE]
    sys.modules.pop(PACKAGE, None)
    load_hook_packages()
    module = importlib.import_module(PACKAGE)
    module.heard.clear()
    yield module
    unregister("OrderCreated", module.tell_the_crm)
    unregister_pre_hook("ShoppingCartValidateCheckout", module.refuse_blocked_clients)
    sys.modules.pop(PACKAGE, None)


@pytest.fixture
def pre_hooks():
    added = []

    def _add(event_name, priority=100):
        def decorator(func):
            pre_hook(event_name, priority=priority)(func)
            added.append((event_name, func))
            return func

        return decorator

    yield _add
    for event_name, func in added:
        unregister_pre_hook(event_name, func)


def _reactions(event_name):
    return {r.name: r for r in next(e for e in trigger_map() if e.name == event_name).reactions}


CART = {"client_id": 1, "currency": "USD", "promo_code": "", "ip_address": "", "items": []}


# --- after-commit hooks --------------------------------------------------------------------------------------


def test_a_hook_from_a_package_named_in_the_setting_runs_and_is_on_the_map(
    hook_package, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        emit("OrderCreated", order_id=7)
    assert hook_package.heard == [7]
    hook = _reactions("OrderCreated")[f"{PACKAGE}.tell_the_crm"]
    assert (hook.kind, hook.enabled) == ("hook", True) and PACKAGE in hook.detail
    pre_hook_reaction = _reactions("ShoppingCartValidateCheckout")[f"{PACKAGE}.refuse_blocked_clients"]
    assert pre_hook_reaction.kind == "pre-hook"


def test_a_package_that_does_not_import_fails_start_up(settings):
    settings.PORTAL_HOOK_PACKAGES = ["tests.no_such_hook_package"]
    with pytest.raises(ModuleNotFoundError):
        load_hook_packages()


def test_a_failing_hook_is_logged_and_stops_neither_the_next_hook_nor_the_action(
    handlers, caplog, django_capture_on_commit_callbacks
):
    ran = []

    @handlers("AcceptOrder", priority=1)
    def first_breaks(event):
        raise RuntimeError("CRM down")

    @handlers("AcceptOrder", priority=2)
    def second_runs(event):
        ran.append(event.pk)

    with caplog.at_level(logging.ERROR), django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        ActivityLog.objects.create(
            actor_label="system", action="order_accepted", subject_type="t", message="the action"
        )
        event = emit("AcceptOrder", order_id=1, client_id=1)
    assert ran == [event.pk]
    assert ActivityLog.objects.filter(action="order_accepted").exists()  # the action committed
    assert "first_breaks" in caplog.text and "CRM down" in caplog.text


# --- pre-hooks -----------------------------------------------------------------------------------------------


def test_pre_hooks_run_in_order_and_the_first_veto_refuses_with_its_reason(pre_hooks):
    ran = []

    @pre_hooks("ShoppingCartValidateCheckout", priority=1)
    def looks(event):
        ran.append(("looks", event.payload["client_id"]))

    @pre_hooks("ShoppingCartValidateCheckout", priority=2)
    def refuses(event):
        ran.append(("refuses", event.name))
        raise Veto("No orders on Sundays.")

    @pre_hooks("ShoppingCartValidateCheckout", priority=3)
    def never_reached(event):
        ran.append(("never", 0))

    with pytest.raises(Veto) as vetoed:
        pre("ShoppingCartValidateCheckout", **CART)
    assert vetoed.value.reason == "No orders on Sundays." and vetoed.value.messages == ["No orders on Sundays."]
    assert vetoed.value.hook.endswith("refuses")
    assert isinstance(vetoed.value, ValidationError)  # shown wherever a refusal is shown
    assert ran == [("looks", 1), ("refuses", "ShoppingCartValidateCheckout")]


def test_a_crashing_pre_hook_is_logged_and_the_action_goes_on(pre_hooks, caplog):
    @pre_hooks("ShoppingCartValidateCheckout")
    def crashes(event):
        raise KeyError("items")

    with caplog.at_level(logging.ERROR):
        pre("ShoppingCartValidateCheckout", **CART)
    assert "crashes" in caplog.text


def test_no_pre_hook_costs_no_query(django_assert_num_queries):
    with django_assert_num_queries(0):
        pre("ShoppingCartValidateCheckout", **CART)


# --- switches --------------------------------------------------------------------------------------------------


def test_switching_a_hook_needs_a_reason_and_a_known_hook(handlers, admin_user):
    @handlers("AcceptOrder")
    def listener(event):
        pass

    name = f"{listener.__module__}.{listener.__qualname__}"
    with pytest.raises(ValidationError, match="Say why"):
        hook_switch_set(event_name="AcceptOrder", handler=name, enabled=False, reason="  ", actor=admin_user)
    with pytest.raises(ValidationError, match="is not a hook of"):
        hook_switch_set(event_name="CancelOrder", handler=name, enabled=False, reason="noise", actor=admin_user)
    assert not HookSwitch.objects.exists() and not AuditEntry.objects.exists()
    # Switching on a hook that is on changes nothing and records nothing.
    outcome = hook_switch_set(event_name="AcceptOrder", handler=name, enabled=True, reason="on", actor=admin_user)
    assert (outcome.changed, outcome.switch) == (False, None)


def test_a_switched_off_hook_is_skipped_by_dispatch_and_marked_on_the_map(
    handlers, admin_user, django_capture_on_commit_callbacks
):
    ran = []

    @handlers("AcceptOrder", priority=1)
    def noisy(event):
        ran.append("noisy")

    @handlers("AcceptOrder", priority=2)
    def kept(event):
        ran.append("kept")

    @handlers("AcceptOrder", priority=3)
    def also_kept(event):
        ran.append("also_kept")

    name = f"{noisy.__module__}.{noisy.__qualname__}"
    change = hook_switch_set(
        event_name="AcceptOrder", handler=name, enabled=False, reason="Floods the CRM", actor=admin_user
    )
    assert change.changed and not change.switch.enabled
    with CaptureQueriesContext(connection) as queries, django_capture_on_commit_callbacks(execute=True):
        event = emit("AcceptOrder", order_id=1, client_id=1)
    assert ran == ["kept", "also_kept"]
    assert sum("notifications_hookswitch" in q["sql"] for q in queries.captured_queries) == 1  # once per dispatch
    assert not HandlerRun.objects.filter(event=event, handler=name).exists()
    assert Event.objects.get(pk=event.pk).dispatched_at is not None
    assert _reactions("AcceptOrder")[name].enabled is False
    assert _reactions("AcceptOrder")[f"{kept.__module__}.{kept.__qualname__}"].enabled is True

    hook_switch_set(event_name="AcceptOrder", handler=name, enabled=True, reason="CRM fixed", actor=admin_user)
    dispatch(event.pk)  # switched on again: events from now on (and a redispatch) reach it
    assert ran[-1] == "noisy"
    audit = list(audit_for(change.switch).values_list("action", "reason", "before", "after", "actor_label"))
    assert audit == [
        ("switched on", "CRM fixed", {"enabled": False}, {"enabled": True}, admin_user.username),
        ("switched off", "Floods the CRM", {"enabled": True}, {"enabled": False}, admin_user.username),
    ]


def test_a_switched_off_pre_hook_does_not_veto(pre_hooks, admin_user):
    @pre_hooks("ShoppingCartValidateCheckout")
    def refuses(event):
        raise Veto("no")

    name = f"{refuses.__module__}.{refuses.__qualname__}"
    assert any(h.handler == name and h.kind == "pre-hook" for h in known_hooks())
    hook_switch_set(
        event_name="ShoppingCartValidateCheckout", handler=name, enabled=False, reason="too strict", actor=admin_user
    )
    pre("ShoppingCartValidateCheckout", **CART)  # no veto
    assert _reactions("ShoppingCartValidateCheckout")[name].enabled is False


def test_the_admin_lists_every_hook_and_switches_one_off_only_with_a_reason(hook_package, admin_client):
    changelist = reverse("admin:notifications_hookswitch_changelist")
    page = admin_client.get(changelist).content.decode()
    assert f"{PACKAGE}.tell_the_crm" in page and "provisioning.handlers.extend_items_on_payment" in page
    add = reverse("admin:notifications_hookswitch_add")
    hook = f"OrderCreated {PACKAGE}.tell_the_crm"
    refused = admin_client.post(add, {"hook": hook, "reason": ""})
    assert refused.status_code == 200 and not HookSwitch.objects.exists()
    response = admin_client.post(add, {"hook": hook, "reason": "The CRM is moving"})
    assert response.status_code == 302, response.content.decode()[:2000]
    switch = HookSwitch.objects.get()
    assert (switch.event_name, switch.handler, switch.enabled) == ("OrderCreated", f"{PACKAGE}.tell_the_crm", False)
    change = reverse("admin:notifications_hookswitch_change", args=[switch.pk])
    assert "The CRM is moving" in admin_client.get(change).content.decode()  # the audit on its page
    admin_client.post(change, {"enabled": "on", "reason": "Moved"})
    switch.refresh_from_db()
    assert switch.enabled and audit_for(switch).count() == 2


def test_viewing_hook_switches_does_not_allow_changing_them(client, django_user_model):
    from django.contrib.auth.models import Permission

    viewer = django_user_model.objects.create_user("viewer", password="pw", is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_hookswitch"))
    client.force_login(viewer)
    assert client.get(reverse("admin:notifications_hookswitch_changelist")).status_code == 200
    assert client.get(reverse("admin:notifications_hookswitch_add")).status_code == 403
