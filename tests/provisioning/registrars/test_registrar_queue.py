"""Registrar calls through the module queue (issue 18, requirement 4): a domain sent to its registrar on accept
gets one register (or transfer) call with an exactly-once key; the registrar's expiry date is the domain's when it
succeeds; a refusal or a fault waits in the same queue, with the same retries and the same admin retry, and the
domain stays where it was. In-process here (the after-commit tasks run eagerly); the module queue's worker tests
cover the real worker."""

import datetime

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from notifications.hooks import Veto, pre_hook, unregister_pre_hook
from notifications.models import Event
from provisioning.models import Domain, ModuleCall, ModuleTodo
from provisioning.queue.actions import module_calls_retry
from provisioning.queue.requests import domain_action_key, registrar_call_request
from provisioning.queue.runner import module_call_run
from provisioning.queue.sweep import module_calls_sweep
from provisioning.registrars.base import RegistrarAction, TransientRegistrarError
from provisioning.services.domains import domain_activate
from tests import registrar_package
from tests.factories import DomainFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fresh_registrar():
    registrar_package.reset()
    yield
    registrar_package.reset()


def _pending(customer, name="shop.example", registrar="scripted_registrar", **fields) -> Domain:
    return DomainFactory(
        client=customer, name=name, status=Domain.Status.PENDING, expiry_date=None, registrar=registrar, **fields
    )


def _accept(domain, capture, **choices):
    with capture(execute=True):
        outcome = domain_activate(domain=domain, send_to_registrar=True, actor=None, **choices)
    domain.refresh_from_db()
    return outcome


def _events(name) -> int:
    return Event.objects.filter(name=name).count()


def test_accept_queues_one_register_call_and_the_registrars_expiry_date_makes_the_domain_active(
    customer, django_capture_on_commit_callbacks
):
    domain = _pending(customer)
    outcome = _accept(domain, django_capture_on_commit_callbacks)
    call = ModuleCall.objects.get()
    assert (call.domain_id, call.service_id, call.module, call.action) == (
        domain.pk,
        None,
        "scripted_registrar",
        "register",
    )
    assert outcome.call_id == call.pk and call.idempotency_key == f"domain:{domain.pk}:register:r0"
    assert call.status == ModuleCall.Status.SUCCEEDED and call.attempts == 1
    assert (domain.status, domain.expiry_date) == (Domain.Status.ACTIVE, datetime.date(2030, 1, 1))
    assert [("register", call.idempotency_key)] == registrar_package.CALLS
    assert _events("PreRegistrarRegister") == 0  # pre-hooks are not events; the after-event is
    assert _events("AfterRegistrarRegister") == 1 and _events("DomainActivated") == 1


def test_asking_again_with_the_same_key_asks_the_registrar_nothing_more(customer, django_capture_on_commit_callbacks):
    domain = _pending(customer)
    _accept(domain, django_capture_on_commit_callbacks)
    with django_capture_on_commit_callbacks(execute=True):
        again = registrar_call_request(
            domain=domain, action=RegistrarAction.REGISTER, actor=None, key=f"domain:{domain.pk}:register:r0"
        )
    assert again.created is False and ModuleCall.objects.count() == 1 and len(registrar_package.CALLS) == 1


def test_a_taken_name_fails_for_good_leaves_the_domain_pending_registration_and_says_why(
    customer, django_capture_on_commit_callbacks
):
    domain = _pending(customer, name="taken.example")
    _accept(domain, django_capture_on_commit_callbacks)
    call = ModuleCall.objects.get()
    assert call.status == ModuleCall.Status.FAILED and call.error_transient is False
    assert "2302" in call.error
    assert (domain.status, domain.expiry_date) == (Domain.Status.PENDING_REGISTRATION, None)
    assert _events("AfterRegistrarRegisterFailed") == 1 and _events("DomainActivated") == 0


def test_a_registry_fault_is_retried_and_an_admins_retry_finishes_it_with_the_same_key(
    customer, admin_user, django_capture_on_commit_callbacks
):
    registrar_package.FAULTS.append(TransientRegistrarError("2400 Command failed", code=2400))
    domain = _pending(customer)
    _accept(domain, django_capture_on_commit_callbacks)
    call = ModuleCall.objects.get()
    assert call.status == ModuleCall.Status.RETRYING and call.next_attempt_at > timezone.now()
    assert domain.status == Domain.Status.PENDING_REGISTRATION
    with django_capture_on_commit_callbacks(execute=True):
        module_calls_retry(call_ids=[call.pk], actor=admin_user)
    call.refresh_from_db()
    domain.refresh_from_db()
    assert call.status == ModuleCall.Status.SUCCEEDED and call.attempts == 2
    assert domain.status == Domain.Status.ACTIVE
    assert {key for _action, key in registrar_package.CALLS} == {call.idempotency_key}


def test_a_retry_not_due_yet_is_not_run_and_the_sweep_hands_it_out_when_it_is(
    customer, django_capture_on_commit_callbacks
):
    registrar_package.FAULTS.append(TransientRegistrarError("2502 Session limit exceeded", code=2502))
    domain = _pending(customer)
    _accept(domain, django_capture_on_commit_callbacks)
    call = ModuleCall.objects.get()
    assert module_call_run(call.pk).result.value == "not_due"
    ModuleCall.objects.filter(pk=call.pk).update(next_attempt_at=timezone.now() - datetime.timedelta(seconds=1))
    with django_capture_on_commit_callbacks(execute=True):
        assert module_calls_sweep().sent == 1
    domain.refresh_from_db()
    assert domain.status == Domain.Status.ACTIVE


def test_a_pre_hook_veto_fails_the_call_with_its_reason_and_the_registrar_is_not_called(
    customer, django_capture_on_commit_callbacks
):
    def no_registrations(event):
        raise Veto("the registry is frozen this week")

    pre_hook("PreRegistrarRegister")(no_registrations)
    try:
        domain = _pending(customer)
        _accept(domain, django_capture_on_commit_callbacks)
    finally:
        unregister_pre_hook("PreRegistrarRegister", no_registrations)
    call = ModuleCall.objects.get()
    assert call.status == ModuleCall.Status.FAILED and "the registry is frozen this week" in call.error
    assert registrar_package.CALLS == [] and domain.status == Domain.Status.PENDING_REGISTRATION


def test_the_manual_registrar_files_a_to_do_and_the_domain_waits_for_the_admin(
    customer, django_capture_on_commit_callbacks
):
    domain = _pending(customer, registrar="manual")
    _accept(domain, django_capture_on_commit_callbacks)
    call = ModuleCall.objects.get()
    todo = ModuleTodo.objects.get()
    assert call.status == ModuleCall.Status.SUCCEEDED and todo.call_id == call.pk
    assert (todo.domain_id, todo.service_id) == (domain.pk, None)
    assert todo.text.startswith("Register shop.example for 1 year")
    assert (domain.status, domain.expiry_date) == (Domain.Status.PENDING_REGISTRATION, None)


def test_the_registrar_chosen_on_accept_is_the_domains_and_a_transfer_asks_for_a_transfer(
    customer, django_capture_on_commit_callbacks
):
    domain = _pending(customer, registrar="", registration_type=Domain.RegistrationType.TRANSFER)
    _accept(domain, django_capture_on_commit_callbacks, registrar="manual")
    call = ModuleCall.objects.get()
    assert (domain.registrar, domain.status) == ("manual", Domain.Status.PENDING_TRANSFER)
    assert (call.action, call.idempotency_key) == ("transfer", f"domain:{domain.pk}:transfer:r0")


def test_with_no_registrar_the_domain_waits_and_nothing_is_queued(customer, django_capture_on_commit_callbacks):
    domain = _pending(customer, registrar="")
    outcome = _accept(domain, django_capture_on_commit_callbacks)
    assert outcome.call_id is None and not ModuleCall.objects.exists()
    assert domain.status == Domain.Status.PENDING_REGISTRATION


def test_a_registrar_that_is_not_installed_is_refused_and_nothing_is_written(customer):
    domain = _pending(customer, registrar="gone_registrar")
    with pytest.raises(ValidationError, match="No registrar is named 'gone_registrar'"):
        domain_activate(domain=domain, send_to_registrar=True, actor=None)
    domain.refresh_from_db()
    assert domain.status == Domain.Status.PENDING and not ModuleCall.objects.exists()


def test_an_action_the_registrar_does_not_offer_is_refused_before_anything_is_queued(customer):
    domain = _pending(customer)
    with pytest.raises(ValidationError, match="does not offer get lock"):
        registrar_call_request(domain=domain, action=RegistrarAction.GET_LOCK, actor=None, key="k")
    assert not ModuleCall.objects.exists()


def test_an_epp_code_the_registrar_returns_is_never_kept_in_the_calls_record(
    customer, django_capture_on_commit_callbacks
):
    domain = DomainFactory(client=customer, registrar="scripted_registrar")
    with django_capture_on_commit_callbacks(execute=True):
        registrar_call_request(
            domain=domain,
            action=RegistrarAction.GET_EPP_CODE,
            actor=None,
            key=domain_action_key(domain.pk, RegistrarAction.GET_EPP_CODE, "n1"),
        )
    call = ModuleCall.objects.get()
    assert call.status == ModuleCall.Status.SUCCEEDED
    kept = " ".join([str(call.result), call.response_excerpt, call.request_excerpt])
    assert registrar_package.EPP_CODE not in kept and "not kept" in kept


def test_a_domain_accepted_again_after_a_cancellation_is_a_new_round_with_a_key_of_its_own(
    customer, django_capture_on_commit_callbacks
):
    from provisioning.services.domains import domain_cancel, domain_set_pending

    domain = _pending(customer, name="taken.example")
    _accept(domain, django_capture_on_commit_callbacks)
    domain_cancel(domain=domain, as_fraud=False, actor=None)
    domain_set_pending(domain=domain, actor=None)
    registrar_package.TAKEN.discard("taken.example")
    try:
        _accept(domain, django_capture_on_commit_callbacks)
    finally:
        registrar_package.TAKEN.add("taken.example")
    keys = list(ModuleCall.objects.order_by("pk").values_list("idempotency_key", "status"))
    assert keys == [(f"domain:{domain.pk}:register:r0", "failed"), (f"domain:{domain.pk}:register:r1", "succeeded")]
    assert domain.status == Domain.Status.ACTIVE


def test_the_queue_and_to_do_admin_lists_show_registrar_calls_linked_to_their_domain(
    customer, admin_client, django_capture_on_commit_callbacks
):
    from django.urls import reverse

    failed = _pending(customer, name="taken.example")
    _accept(failed, django_capture_on_commit_callbacks)
    manual = _pending(customer, name="by-hand.example", registrar="manual")
    _accept(manual, django_capture_on_commit_callbacks)
    calls = admin_client.get(reverse("admin:provisioning_modulecall_changelist")).content.decode()
    assert "taken.example" in calls and "by-hand.example" in calls and "2302" in calls
    call = ModuleCall.objects.get(domain=failed)
    page = admin_client.get(reverse("admin:provisioning_modulecall_change", args=[call.pk])).content.decode()
    assert reverse("admin:provisioning_domain_change", args=[failed.pk]) in page
    todos = admin_client.get(reverse("admin:provisioning_moduletodo_changelist")).content.decode()
    assert "Register by-hand.example for 1 year" in todos


def test_a_manual_registration_is_done_only_with_the_expiry_date_the_admin_gives(
    customer, admin_user, django_capture_on_commit_callbacks
):
    from provisioning.queue.actions import module_todos_done

    domain = _pending(customer, registrar="manual")
    _accept(domain, django_capture_on_commit_callbacks)
    todo = ModuleTodo.objects.get()
    undated = module_todos_done(todo_ids=[todo.pk], actor=admin_user)
    assert (undated.done, undated.needs_expiry) == (0, [todo.pk])
    domain.refresh_from_db()
    assert domain.status == Domain.Status.PENDING_REGISTRATION
    dated = module_todos_done(todo_ids=[todo.pk], actor=admin_user, expiry_date=datetime.date(2028, 3, 4))
    assert (dated.done, dated.needs_expiry) == (1, [])
    domain.refresh_from_db()
    todo.refresh_from_db()
    assert (domain.status, domain.expiry_date) == (Domain.Status.ACTIVE, datetime.date(2028, 3, 4))
    assert todo.done_by == admin_user
    assert module_todos_done(todo_ids=[todo.pk], actor=admin_user, expiry_date=datetime.date(2029, 1, 1)).done == 0


def test_the_admin_marks_a_manual_registration_done_on_a_page_that_asks_the_expiry_date(
    customer, admin_client, django_capture_on_commit_callbacks
):
    from django.contrib.admin import helpers
    from django.urls import reverse

    domain = _pending(customer, registrar="manual")
    _accept(domain, django_capture_on_commit_callbacks)
    todo = ModuleTodo.objects.get()
    url = reverse("admin:provisioning_moduletodo_changelist")
    data = {"action": "mark_done", helpers.ACTION_CHECKBOX_NAME: [str(todo.pk)]}
    asked = admin_client.post(url, data)
    assert asked.status_code == 200 and 'name="expiry_date"' in asked.content.decode()
    refused = admin_client.post(url, {**data, "confirm": "1", "expiry_date": "not a date"})
    assert refused.status_code == 200 and "Enter a valid date" in refused.content.decode()
    domain.refresh_from_db()
    assert domain.status == Domain.Status.PENDING_REGISTRATION
    done = admin_client.post(url, {**data, "confirm": "1", "expiry_date": "2028-03-04"})
    assert done.status_code == 302
    domain.refresh_from_db()
    assert (domain.status, domain.expiry_date) == (Domain.Status.ACTIVE, datetime.date(2028, 3, 4))


def test_a_result_the_portal_cannot_apply_fails_the_call_for_an_admin_and_changes_nothing(
    customer, django_capture_on_commit_callbacks
):
    domain = DomainFactory(
        client=customer, name="broken.example", registrar="scripted_registrar", nameservers=["a.ns.net"]
    )
    registrar_package.BROKEN.add("broken.example")
    with django_capture_on_commit_callbacks(execute=True):
        registrar_call_request(
            domain=domain,
            action=RegistrarAction.SAVE_NAMESERVERS,
            actor=None,
            key=domain_action_key(domain.pk, RegistrarAction.SAVE_NAMESERVERS, "n1"),
            params={"nameservers": ["ns1.new.net", "ns2.new.net"]},
        )
    call = ModuleCall.objects.get()
    domain.refresh_from_db()
    assert call.status == ModuleCall.Status.FAILED and call.error_transient is False
    assert (
        call.error.startswith("The registrar did it (") and "could not apply it to the domain (TypeError" in call.error
    )
    assert domain.nameservers == ["a.ns.net"]
    assert _events("AfterRegistrarSaveNameserversFailed") == 1


def test_a_manual_nameserver_change_is_the_domains_once_its_to_do_is_done(
    customer, admin_user, django_capture_on_commit_callbacks
):
    from provisioning.queue.actions import module_todos_done

    domain = DomainFactory(client=customer, name="by-hand-ns.example", registrar="manual", nameservers=["old.ns.net"])
    with django_capture_on_commit_callbacks(execute=True):
        registrar_call_request(
            domain=domain,
            action=RegistrarAction.SAVE_NAMESERVERS,
            actor=None,
            key=domain_action_key(domain.pk, RegistrarAction.SAVE_NAMESERVERS, "n1"),
            params={"nameservers": ["ns1.new.net", "ns2.new.net"]},
        )
    domain.refresh_from_db()
    assert domain.nameservers == ["old.ns.net"]  # the to-do is open: nothing was done at the registry yet
    todo = ModuleTodo.objects.get(domain=domain)
    assert module_todos_done(todo_ids=[todo.pk], actor=admin_user).done == 1
    domain.refresh_from_db()
    assert domain.nameservers == ["ns1.new.net", "ns2.new.net"]


def test_a_registrars_bug_is_logged_and_retried_like_a_fault_without_its_details_in_the_record(
    customer, django_capture_on_commit_callbacks, caplog
):
    registrar_package.FAULTS.append(RuntimeError("secret-internal-state"))
    domain = _pending(customer)
    _accept(domain, django_capture_on_commit_callbacks)
    call = ModuleCall.objects.get()
    assert call.status == ModuleCall.Status.RETRYING and call.error_transient is True
    assert call.error == "The registrar failed unexpectedly (RuntimeError); the error is in the portal's log."
    assert "secret-internal-state" not in call.error and "secret-internal-state" in caplog.text
    assert domain.status == Domain.Status.PENDING_REGISTRATION
