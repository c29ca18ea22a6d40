"""The automation run calls the modules: its overdue suspension, unsuspension and termination ask one module call
per moved service (a module failure waits in the queue and neither stops the run nor undoes the move), the module
queue sweep is a step, and the daily usage step asks each Active service's usage once per day, in queries that do
not grow with the services."""

import datetime

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from automation.models import AutomationSettings
from automation.scheduler import automation_run
from provisioning.models import ModuleCall, Service, ServiceUsage
from provisioning.modules.base import Action
from tests import module_package
from tests.factories import InvoiceFactory, TransactionFactory
from tests.provisioning.modules_helpers import scripted_server, scripted_service

pytestmark = pytest.mark.django_db

DUE = datetime.date(2026, 12, 1)


@pytest.fixture(autouse=True)
def _fresh_module():
    module_package.reset()
    yield
    module_package.reset()


def _days(n):
    return DUE + datetime.timedelta(days=n)


def _run(day, *steps, commit=True, capture=None, **settings):
    if settings:
        AutomationSettings.objects.filter(pk=AutomationSettings.load().pk).update(**settings)
    if commit:
        with capture(execute=True):  # the after-commit tasks run the module calls in-process
            outcome = automation_run(today=day, only=list(steps), trigger="test")
    else:
        outcome = automation_run(today=day, only=list(steps), trigger="test")
    assert outcome.ok, [step.errors for step in outcome.steps]
    return {step.name: step.counts for step in outcome.steps}


def _overdue(customer, server, n=1, **settings):
    services = [scripted_service(customer, server, next_due_date=DUE, settings=settings) for _ in range(n)]
    InvoiceFactory(client=customer, bills=services, issue_date=DUE, due_date=DUE)
    return services


def _calls(action):
    return list(ModuleCall.objects.filter(action=action).order_by("service_id").values_list("service_id", "status"))


def test_overdue_suspension_unsuspension_and_termination_call_the_module(customer, django_capture_on_commit_callbacks):
    server = scripted_server()
    (service,) = _overdue(customer, server)
    assert _run(_days(7), "overdue_suspension", capture=django_capture_on_commit_callbacks) == {
        "overdue_suspension": {"services suspended": 1}
    }
    assert _calls("suspend") == [(service.pk, "succeeded")]
    with django_capture_on_commit_callbacks(execute=True):
        TransactionFactory(invoice=_invoice(service))
    service.refresh_from_db()
    assert service.status == Service.Status.ACTIVE
    assert _calls("unsuspend") == [(service.pk, "succeeded")]
    assert [call[0] for call in module_package.CALLS] == ["suspend", "unsuspend"]


def _invoice(service):
    from billing.models import Invoice, InvoiceItem

    return Invoice.objects.get(pk=InvoiceItem.objects.get(kind="service", related_id=service.pk).invoice_id)


def test_termination_calls_the_module(customer, django_capture_on_commit_callbacks):
    server = scripted_server()
    (service,) = _overdue(customer, server)
    _run(_days(30), "overdue_termination", capture=django_capture_on_commit_callbacks, terminate_enabled=True)
    service.refresh_from_db()
    assert service.status == Service.Status.TERMINATED
    assert _calls("terminate") == [(service.pk, "succeeded")]


def test_the_runs_unsuspension_step_calls_the_module(customer, django_capture_on_commit_callbacks):
    server = scripted_server()
    (service,) = _overdue(customer, server)
    _run(_days(7), "overdue_suspension", capture=django_capture_on_commit_callbacks)
    from billing.services import invoice_cancel

    invoice_cancel(invoice_id=_invoice(service).pk, actor=None)  # nothing overdue any more; no payment event
    _run(_days(8), "overdue_unsuspension", capture=django_capture_on_commit_callbacks)
    service.refresh_from_db()
    assert service.status == Service.Status.ACTIVE
    assert _calls("unsuspend") == [(service.pk, "succeeded")]


def test_a_module_failure_neither_stops_the_run_nor_undoes_the_suspension(customer, django_capture_on_commit_callbacks):
    failing, working = scripted_server("failing"), scripted_server("working")
    broken = _overdue(customer, failing, 2, fail="permanent")
    fine = _overdue(customer, working, 1)
    counts = _run(
        _days(7), "overdue_suspension", "module_usage", capture=django_capture_on_commit_callbacks
    )  # the run goes on to its next step
    assert counts["overdue_suspension"] == {"services suspended": 3}
    assert "module_usage" in counts
    for service in [*broken, *fine]:
        service.refresh_from_db()
        assert service.status == Service.Status.SUSPENDED
    assert _calls("suspend") == [(broken[0].pk, "failed"), (broken[1].pk, "failed"), (fine[0].pk, "succeeded")]
    assert "package does not exist" in ModuleCall.objects.filter(status="failed").first().error


def _suspension_queries(customer, n: int, day_offset: int) -> int:
    server = scripted_server(f"q{n}")
    _overdue(customer, server, n)
    with CaptureQueriesContext(connection) as queries:
        counts = _run(_days(day_offset), "overdue_suspension", commit=False)
    assert counts["overdue_suspension"] == {"services suspended": n}
    assert ModuleCall.objects.filter(action="suspend", server=server).count() == n
    return len(queries)


def test_the_suspension_steps_queries_do_not_grow_with_the_services(customer):
    _suspension_queries(customer, 1, 7)  # warms the caches (content types, settings)
    few = _suspension_queries(customer, 2, 8)
    many = _suspension_queries(customer, 12, 9)
    assert many == few


def test_the_module_queue_sweep_is_a_step_of_the_run(customer, django_capture_on_commit_callbacks):
    server = scripted_server()
    service = scripted_service(customer, server)
    from provisioning.queue.requests import action_key, module_call_request

    key = action_key(service.pk, Action.USAGE, "x")
    call = module_call_request(service=service, action=Action.USAGE, actor=None, key=key)
    ModuleCall.objects.filter(pk=call.call.pk).update(created_at=call.call.created_at - datetime.timedelta(minutes=5))
    counts = _run(_days(0), "module_calls_sweep", capture=django_capture_on_commit_callbacks)
    assert counts == {"module_calls_sweep": {"module calls handed out": 1}}
    assert ModuleCall.objects.get(pk=call.call.pk).status == "succeeded"


def test_the_daily_usage_step_asks_each_active_service_once_a_day(customer, django_capture_on_commit_callbacks):
    server = scripted_server()
    active = [scripted_service(customer, server) for _ in range(3)]
    scripted_service(customer, server, status=Service.Status.SUSPENDED)
    scripted_service(customer, server, status=Service.Status.TERMINATED)
    counts = _run(_days(0), "module_usage", capture=django_capture_on_commit_callbacks)
    assert counts == {"module_usage": {"usage calls asked": 3}}
    assert set(ServiceUsage.objects.values_list("service_id", flat=True)) == {s.pk for s in active}
    assert ServiceUsage.objects.first().figures == {"disk_bytes": 1234}
    # The same day again asks nothing; the next day asks again.
    assert _run(_days(0), "module_usage", capture=django_capture_on_commit_callbacks) == {"module_usage": {}}
    assert _run(_days(1), "module_usage", capture=django_capture_on_commit_callbacks) == {
        "module_usage": {"usage calls asked": 3}
    }
    assert ModuleCall.objects.filter(action="usage").count() == 6


def _usage_queries(customer, n: int, day: int) -> int:
    server = scripted_server(f"u{n}")
    for _ in range(n):
        scripted_service(customer, server)
    with CaptureQueriesContext(connection) as queries:
        counts = _run(_days(day), "module_usage", commit=False)
    assert counts["module_usage"]["usage calls asked"] >= n
    return len(queries)


def test_the_usage_steps_queries_do_not_grow_with_the_services(customer):
    _usage_queries(customer, 1, 0)  # warms the caches
    few = _usage_queries(customer, 2, 1)
    many = _usage_queries(customer, 12, 2)
    assert many == few
