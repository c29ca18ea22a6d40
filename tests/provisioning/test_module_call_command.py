"""manage.py module_call SERVICE_ID ACTION: one action through the module queue (the setup for create, the
service's FSM for status moves), its outcome printed; bad input is a clear CommandError that changes nothing."""

import io

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from core import crypto
from provisioning.models import ModuleCall, Service
from tests import module_package
from tests.factories import ServiceFactory
from tests.provisioning.modules_helpers import scripted_product, scripted_server, scripted_service

# Real commits: the command commits its request, and the call runs after that commit (in-process without a
# broker), before the command reads its outcome.
pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def _fresh_module():
    module_package.reset()
    yield
    module_package.reset()


@pytest.fixture
def run():
    def _run(*args) -> str:
        out = io.StringIO()
        call_command("module_call", *[str(arg) for arg in args], "--wait", "5", stdout=out)
        return out.getvalue()

    return _run


def test_create_sets_the_pending_service_up_and_prints_the_outcome(customer, run):
    server = scripted_server()
    product = scripted_product(server.groups.first(), auto_setup="never")
    service = ServiceFactory(client=customer, product=product, module="scripted", status=Service.Status.PENDING)
    printed = run(service.pk, "create")
    service.refresh_from_db()
    call = ModuleCall.objects.get(service=service)
    assert service.status == Service.Status.ACTIVE
    assert f"module create queued (call #{call.pk})" in printed
    assert f"Module call #{call.pk} (create, attempt 1): Succeeded" in printed
    with pytest.raises(CommandError, match="only a Pending service is set up"):
        run(service.pk, "create")
    assert ModuleCall.objects.filter(service=service).count() == 1


def test_status_moves_go_through_the_services_fsm_and_the_queue(customer, run):
    service = scripted_service(customer, scripted_server())
    assert "(suspend, attempt 1): Succeeded" in run(service.pk, "suspend", "--reason", "abuse")
    service.refresh_from_db()
    assert (service.status, service.suspension_reason) == ("suspended", "abuse")
    with pytest.raises(CommandError, match="cannot be suspended"):
        run(service.pk, "suspend")
    assert "(unsuspend, attempt 1): Succeeded" in run(service.pk, "unsuspend")
    assert "(terminate, attempt 1): Succeeded" in run(service.pk, "terminate")
    service.refresh_from_db()
    assert service.status == Service.Status.TERMINATED
    assert [call[0] for call in module_package.CALLS] == ["suspend", "unsuspend", "terminate"]


def test_change_password_with_a_given_or_generated_password(customer, run):
    service = scripted_service(customer, scripted_server())
    printed = run(service.pk, "change_password", "--password", "A-new-passw0rd")
    assert "(change_password, attempt 1): Succeeded" in printed and "A-new-passw0rd" not in printed
    service.refresh_from_db()
    assert crypto.decrypt(service.password_token) == "A-new-passw0rd"
    generated = run(service.pk, "change_password")
    assert "The new password (shown once): " in generated
    with pytest.raises(CommandError, match="A password needs"):
        run(service.pk, "change_password", "--password", "short")
    assert ModuleCall.objects.filter(action="change_password").count() == 2


def test_change_package_usage_and_renew(customer, run):
    service = scripted_service(customer, scripted_server())
    assert "(change_package, attempt 1): Succeeded" in run(service.pk, "change_package", "--setting", "sleep=0")
    with pytest.raises(CommandError, match="Must be at most 60"):
        run(service.pk, "change_package", "--setting", "sleep=999")
    with pytest.raises(CommandError, match="NAME=VALUE"):
        run(service.pk, "change_package", "--setting", "sleep")
    assert "(usage, attempt 1): Succeeded" in run(service.pk, "usage")
    assert service.usage.count() == 1
    # Each run of the command is a new intent: a second usage call is asked, not found.
    run(service.pk, "usage")
    assert ModuleCall.objects.filter(action="usage").count() == 2
    assert "(renew, attempt 1): Succeeded" in run(service.pk, "renew")


def test_a_failed_call_is_printed_and_the_command_fails(customer, run):
    service = scripted_service(customer, scripted_server(), settings={"fail": "permanent"})
    with pytest.raises(CommandError, match="failed: The panel refused the account"):
        run(service.pk, "usage")
    assert ModuleCall.objects.get(action="usage").status == "failed"


def test_bad_input_is_a_clear_error(customer, run):
    with pytest.raises(CommandError, match="There is no service #999999"):
        run(999999, "suspend")
    with pytest.raises(CommandError, match="invalid choice"):
        run(1, "reboot")
    plain = ServiceFactory(client=customer)  # no module
    with pytest.raises(CommandError, match="has no provisioning module"):
        run(plain.pk, "usage")
    terminated = scripted_service(customer, scripted_server(), status=Service.Status.TERMINATED)
    with pytest.raises(CommandError, match="no account to ask about"):
        run(terminated.pk, "usage")
    assert not ModuleCall.objects.exists()
