"""The module queue (provisioning.queue): every call once per key, recorded with its outcome; transient errors
retried with backoff up to the limit, permanent ones and vetoes waiting for an admin; a create that succeeds makes
the service Active; the servers a group picks; credentials encrypted at rest. Driven through a real third-party
module package (tests/module_package, named in PORTAL_MODULE_PACKAGES) and the Manual module."""

import datetime
import io

import pytest
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.test import override_settings
from django.utils import timezone

from core import crypto
from notifications.hooks import Veto, pre_hook, unregister_pre_hook
from notifications.models import Event, OutboundEmail
from orders.services import ServiceAcceptOptions, order_accept
from provisioning.models import ModuleCall, ModuleTodo, Server, ServerGroup, Service
from provisioning.modules import registry
from provisioning.modules.base import Action
from provisioning.queue.actions import CallMove, module_calls_resolve, module_calls_retry, module_todos_done
from provisioning.queue.requests import action_key, create_key, module_call_request
from provisioning.queue.runner import RunResult, module_call_run
from provisioning.queue.sweep import module_calls_sweep
from provisioning.servers import server_pick, server_test_connection
from provisioning.services import service_setup
from tests import module_package
from tests.factories import DomainFactory, ProductFactory, ServiceFactory, scripted_pending_service, scripted_server

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fresh_module():
    module_package.reset()
    yield
    module_package.reset()


@pytest.fixture(autouse=True)
def _commits(django_capture_on_commit_callbacks):
    """Each call below runs its after-commit work (the queue's tasks, in-process) as a real commit would."""

    def committed(func):
        def run(*args, **kwargs):
            with django_capture_on_commit_callbacks(execute=True):
                return func(*args, **kwargs)

        return run

    names = ("service_setup", "module_calls_sweep", "module_calls_retry", "module_call_request", "order_accept")
    saved = {name: globals()[name] for name in names}
    globals().update({name: committed(func) for name, func in saved.items()})
    yield
    globals().update(saved)


@pytest.fixture
def group():
    return ServerGroup.objects.create(name="EU panels", fill_type=ServerGroup.FillType.LEAST_FULL)


_server = scripted_server
_pending = scripted_pending_service


def _retries_fall_due():
    """The wait before each retry passes (the calls' next attempt moves into the past), and the sweep runs."""
    ModuleCall.objects.filter(status="retrying").update(next_attempt_at=timezone.now() - datetime.timedelta(seconds=1))
    module_calls_sweep()


def test_a_third_party_package_named_in_the_setting_registers_its_module():
    assert ("scripted", "Scripted (tests)") in registry.choices()
    assert registry.module_for("scripted").supports(Action.USAGE)


def test_setup_creates_the_account_once_and_the_service_becomes_active(customer, group):
    server = _server(group)
    service = _pending(customer, group)
    outcome = service_setup(service=service, actor=None)
    service.refresh_from_db()
    call = ModuleCall.objects.get(service=service)
    assert (call.status, call.action, call.attempts, call.server_id) == ("succeeded", "create", 1, server.pk)
    assert outcome.call_id == call.pk
    assert service.status == Service.Status.ACTIVE and service.server_id == server.pk
    assert service.username == f"shop{service.pk}"
    assert crypto.decrypt(service.password_token) == "s3cret-from-module"
    assert "s3cret-from-module" not in service.password_token
    assert service.account == {"host": "panel-1.example.net", "port": "5432", "database": f"db{service.pk}"}
    assert Event.objects.filter(name="AfterModuleCreate", payload__call_id=call.pk).exists()
    assert Event.objects.filter(name="ServiceActivated", payload__module_ran=True).exists()
    assert OutboundEmail.objects.filter(idempotency_key=f"service_welcome:{service.pk}").count() == 1
    # The row never keeps the password, in its result or its excerpts.
    assert "s3cret" not in str(call.result) + call.request_excerpt + call.response_excerpt

    again = module_call_request(service=service, action=Action.CREATE, actor=None, key=create_key(service))
    assert again.created is False and again.call.pk == call.pk
    assert [c[0] for c in module_package.CALLS] == ["create"]


def test_a_second_setup_of_the_same_round_asks_for_nothing_new(customer, group):
    _server(group)
    service = _pending(customer, group, fail="permanent")
    first = service_setup(service=service, actor=None)
    second = service_setup(service=service, actor=None)
    assert first.call_id == second.call_id and second.setup.value == "create_already_queued"
    assert ModuleCall.objects.filter(service=service).count() == 1
    assert len(module_package.CALLS) == 1


def test_a_transient_error_is_retried_with_backoff_until_it_succeeds(customer, group):
    _server(group)
    service = _pending(customer, group, fail="transient", fail_times=2)
    service_setup(service=service, actor=None)
    call = ModuleCall.objects.get(service=service)
    assert call.status == "retrying" and call.error == "The panel did not answer (attempt 1)."
    assert call.error_transient is True
    wait = call.next_attempt_at - call.finished_at
    assert datetime.timedelta(seconds=15) <= wait <= datetime.timedelta(seconds=30)  # base 30 s, equal jitter
    service.refresh_from_db()
    assert service.status == Service.Status.PENDING  # Active only when the create succeeds

    assert module_call_run(call.pk).result is RunResult.NOT_DUE  # not before its time
    for _ in range(2):
        _retries_fall_due()
    call.refresh_from_db()
    service.refresh_from_db()
    assert (call.status, call.attempts, service.status) == ("succeeded", 3, Service.Status.ACTIVE)
    failed = Event.objects.filter(name="AfterModuleCreateFailed", payload__call_id=call.pk)
    assert failed.count() == 2 and not any(e.payload["gave_up"] for e in failed)


@override_settings(PORTAL_MODULE_RETRY_LIMIT=3)
def test_after_the_retry_limit_the_call_waits_for_an_admin_who_retries_or_resolves_it(customer, group, admin_user):
    _server(group)
    service = _pending(customer, group, fail="transient", fail_times=99)
    service_setup(service=service, actor=None)
    call = ModuleCall.objects.get(service=service)
    for _ in range(5):
        _retries_fall_due()
    call.refresh_from_db()
    assert (call.status, call.attempts) == ("failed", 3)
    assert Event.objects.filter(name="AfterModuleCreateFailed", payload__gave_up=True).count() == 1
    assert module_call_run(call.pk).result is RunResult.FINISHED_BEFORE  # a failed call runs only when retried

    assert module_calls_retry(call_ids=[call.pk], actor=admin_user)[0].move is CallMove.RETRIED
    call.refresh_from_db()
    assert (call.status, call.attempts) == ("failed", 4)  # it ran again at once (in-process) and failed again

    with pytest.raises(ValidationError):
        module_calls_resolve(call_ids=[call.pk], actor=admin_user, note="  ")
    moved = module_calls_resolve(call_ids=[call.pk], actor=admin_user, note="Created by hand on the panel.")
    call.refresh_from_db()
    assert moved[0].move is CallMove.RESOLVED and call.status == "resolved" and call.resolved_by == admin_user
    assert module_calls_retry(call_ids=[call.pk], actor=admin_user)[0].move is CallMove.NOT_OPEN


def test_a_permanent_error_waits_for_an_admin_at_once_and_the_service_stays_pending(customer, group):
    _server(group)
    service = _pending(customer, group, fail="permanent")
    service_setup(service=service, actor=None)
    call = ModuleCall.objects.get(service=service)
    service.refresh_from_db()
    assert (call.status, call.attempts, call.error_transient) == ("failed", 1, False)
    assert call.error == "The panel refused the account: the package does not exist."
    assert service.status == Service.Status.PENDING


def test_a_pre_hook_veto_fails_the_call_before_the_module_is_called(customer, group):
    _server(group)
    service = _pending(customer, group)

    def refuse(event):
        raise Veto(f"no accounts for client {event.payload['client_id']} today")

    pre_hook("PreModuleCreate")(refuse)
    try:
        service_setup(service=service, actor=None)
    finally:
        unregister_pre_hook("PreModuleCreate", refuse)
    call = ModuleCall.objects.get(service=service)
    assert call.status == "failed" and f"no accounts for client {customer.pk} today" in call.error
    assert module_package.CALLS == []


def test_with_no_server_with_room_the_service_stays_pending_with_the_reason(customer, group):
    _server(group, max_accounts=1)
    ServiceFactory(client=customer, product=ProductFactory(), server=Server.objects.get(), status="active")
    service = _pending(customer, group)
    service_setup(service=service, actor=None)
    call = ModuleCall.objects.get(service=service)
    service.refresh_from_db()
    assert call.status == "retrying" and "at its maximum number of accounts" in call.error
    assert service.status == Service.Status.PENDING and service.server_id is None
    assert module_package.CALLS == []


def test_fill_picks_the_first_server_with_room_and_least_full_the_emptiest(customer, group):
    first, second = _server(group, "a-panel", max_accounts=2), _server(group, "b-panel", max_accounts=5)
    _server(group, "c-inactive", active=False)
    ServiceFactory(client=customer, product=ProductFactory(), server=first, status="active")
    assert server_pick(group=group, module="scripted").server == second  # least full
    group.fill_type = ServerGroup.FillType.FILL_ACTIVE
    assert server_pick(group=group, module="scripted").server == first
    ServiceFactory(client=customer, product=ProductFactory(), server=first, status="suspended")
    assert server_pick(group=group, module="scripted").server == second  # the first is full
    assert server_pick(group=group, module="manual").no_room.value == "no_server"


def test_a_create_that_lands_after_the_service_was_cancelled_removes_the_account(customer, group):
    _server(group)
    service = _pending(customer, group, fail="transient", fail_times=1)
    service_setup(service=service, actor=None)
    Service.objects.filter(pk=service.pk).update(status=Service.Status.CANCELLED)
    _retries_fall_due()
    _retries_fall_due()  # the terminate fails once too (the module fails each key's first attempt)
    assert [c[0] for c in module_package.CALLS] == ["create", "create", "terminate", "terminate"]
    terminate = ModuleCall.objects.get(service=service, action="terminate")
    assert (
        terminate.status == "succeeded"
        and terminate.idempotency_key
        == f"service:{service.pk}:terminate:after-create-{ModuleCall.objects.get(service=service, action='create').pk}"
    )


def test_the_manual_module_files_a_to_do_and_the_admin_marks_it_done(customer, admin_user, group):
    product = ProductFactory(name="Dedicated", module="manual", module_settings={"instructions": "Rack it."})
    service = ServiceFactory(
        client=customer, product=product, module="manual", module_settings=product.module_settings, status="pending"
    )
    service_setup(service=service, actor=admin_user)
    service.refresh_from_db()
    todo = ModuleTodo.objects.get(service=service)
    assert service.status == Service.Status.ACTIVE and service.server_id is None
    assert todo.text == f"Set up the account for service #{service.pk} (Dedicated). Rack it."
    assert module_todos_done(todo_ids=[todo.pk], actor=admin_user).done == 1
    assert module_todos_done(todo_ids=[todo.pk], actor=admin_user).done == 0
    todo.refresh_from_db()
    assert todo.done_by == admin_user


def test_bad_admin_choices_are_refused_and_change_nothing(customer, group):
    server = _server(group)
    other = _server(group, "other-module", module="manual")
    service = _pending(customer, group)
    with pytest.raises(ValidationError, match="Choose a server of the Scripted"):
        service_setup(service=service, actor=None, server_id=other.pk)
    with pytest.raises(ValidationError, match="not allowed here"):
        service_setup(service=service, actor=None, server_id=server.pk, username='x"; DROP ROLE postgres; --')
    service.refresh_from_db()
    assert (service.server_id, service.username, ModuleCall.objects.count()) == (None, "", 0)


def test_accepting_an_order_queues_the_create_with_the_admins_choices(customer, group, place, admin_user):
    from billing.cycles import BillingCycle
    from orders.services import CartItem
    from tests.factories import PricingFactory

    server = _server(group)
    product = ProductFactory(name="Panel", module="scripted", server_group=group, requires_domain=True)
    PricingFactory(product=product, currency=customer.currency, billing_cycle=BillingCycle.MONTHLY)
    order = place(customer, CartItem(product_id=product.pk, billing_cycle=BillingCycle.MONTHLY, domain="a.example"))
    service = order.services.get()
    options = ServiceAcceptOptions(server_id=server.pk, username="alice7", password="Chosen-Pass-1")
    order_accept(order=order, actor=admin_user, service_options={service.pk: options})
    service.refresh_from_db()
    assert (service.status, service.username, service.server_id) == ("active", "alice7", server.pk)
    create = [c for c in module_package.CALLS if c[0] == "create"]
    assert len(create) == 1 and create[0][1] == f"service:{service.pk}:create:r0"


def test_credentials_are_encrypted_at_rest_and_rotate_to_a_new_key(group):
    server = _server(group)
    assert "right-token" not in server.credentials_token
    old_key, new_key = crypto.new_key(), crypto.new_key()
    with override_settings(PORTAL_ENCRYPTION_KEYS=[old_key]):
        token = crypto.encrypt("hunter2")
    with override_settings(PORTAL_ENCRYPTION_KEYS=[new_key, old_key]):
        assert crypto.decrypt(token) == "hunter2"
        rotated = crypto.rotate(token)
    with override_settings(PORTAL_ENCRYPTION_KEYS=[new_key]):
        assert crypto.decrypt(rotated) == "hunter2"
        with pytest.raises(crypto.SecretUnreadable):
            crypto.decrypt(token)


def test_the_connection_test_is_kept_on_the_server(group, admin_user):
    server = _server(group)
    assert server_test_connection(server_id=server.pk, actor=admin_user).ok
    server.credentials_token = crypto.encrypt_json({"api_token": "wrong"})
    server.save()
    tested = server_test_connection(server_id=server.pk, actor=admin_user)
    server.refresh_from_db()
    assert not tested.ok and server.last_test_ok is False
    assert server.last_test_message == "The panel refused the API token."


def test_an_action_key_names_its_intent_so_a_double_submit_is_one_call(customer, group):
    _server(group)
    service = _pending(customer, group)
    service_setup(service=service, actor=None)
    key = action_key(service.pk, Action.SUSPEND, "form-token-1")
    first = module_call_request(service=service, action=Action.SUSPEND, actor=None, key=key, params={"reason": "abuse"})
    second = module_call_request(service=service, action=Action.SUSPEND, actor=None, key=key, params={"reason": "x"})
    assert first.created and not second.created and first.call.pk == second.call.pk
    assert [c for c in module_package.CALLS if c[0] == "suspend"] == [("suspend", key, {"reason": "abuse"})]


def test_rotate_secrets_re_encrypts_every_stored_secret_with_the_new_key(customer, group):
    old_key, new_key = crypto.new_key(), crypto.new_key()
    with override_settings(PORTAL_ENCRYPTION_KEYS=[old_key]):
        server = _server(group)
        service = _pending(customer, group)
        Service.objects.filter(pk=service.pk).update(password_token=crypto.encrypt("account-pass"))
        domain = DomainFactory(client=customer, epp_code_token=crypto.encrypt("transfer-code"))
    with override_settings(PORTAL_ENCRYPTION_KEYS=[new_key, old_key]):
        call_command("rotate_secrets", stdout=io.StringIO())
    with override_settings(PORTAL_ENCRYPTION_KEYS=[new_key]):  # the old key is gone: everything still opens
        server.refresh_from_db()
        service.refresh_from_db()
        domain.refresh_from_db()
        assert crypto.decrypt_json(server.credentials_token) == {"api_token": "right-token"}
        assert crypto.decrypt(service.password_token) == "account-pass"
        assert crypto.decrypt(domain.epp_code_token) == "transfer-code"


@pytest.mark.postgres
def test_a_success_the_portal_cannot_apply_waits_for_an_admin_instead_of_calling_the_module_again(customer, group):
    """The module made the account but returned a username longer than a service can hold: the database refuses
    the effects, and the call fails for good with what happened instead of looping through the sweep."""
    _server(group)
    service = _pending(customer, group, return_username="u" * 80)
    service_setup(service=service, actor=None)
    call = ModuleCall.objects.get(service=service)
    service.refresh_from_db()
    assert (call.status, call.error_transient, service.status, service.username) == ("failed", False, "pending", "")
    assert call.error.startswith("The module did it") and "mark this call resolved" in call.error
    assert not Event.objects.filter(name="AfterModuleCreate").exists()
    assert Event.objects.filter(name="AfterModuleCreateFailed", payload__gave_up=True).exists()
    module_calls_sweep()
    assert len(module_package.CALLS) == 1
