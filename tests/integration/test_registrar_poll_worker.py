"""The registrar poll on a real Celery worker through Redis, against the TLS EPP test server (issue 18, requirement
2): the run's registrar_poll step sends the task, the worker drains the account's queue; a worker SIGKILLed after
a message's effect committed and before its acknowledgement reached the registry leaves the message in the queue,
recorded, and the next run's poll only acknowledges it: one effect."""

import datetime
import signal
import time

import pytest
from django.conf import settings
from django.db import connection
from django.utils import timezone

from automation.scheduler import automation_run
from notifications.models import ActivityLog, Event
from provisioning.models import Domain, RegistrarPoll, RegistrarPollMessage
from provisioning.queue.registrar_poll import POLL_LOCK_NAMESPACE
from provisioning.registrars.epp.session import EppSession
from tests.factories import DomainFactory
from tests.integration.worker_process import celery_worker_process, queue_for, routed_through_the_broker

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.django_db(transaction=True)]

PROVISIONING_QUEUE = queue_for("provisioning")
DEFAULT_QUEUE = queue_for("default")


@pytest.fixture
def broker():
    routes = {name: {"queue": PROVISIONING_QUEUE} for name in settings.CELERY_TASK_ROUTES if "provisioning" in name}
    with routed_through_the_broker({**routes, "*": {"queue": DEFAULT_QUEUE}}):
        yield


def wait_for(check, what: str, log, timeout: float = 60):
    deadline = time.monotonic() + timeout
    while not (value := check()):
        assert time.monotonic() < deadline, f"{what} did not happen in {timeout} s\n{log.read_text()}"
        time.sleep(0.05)
    return value


def _poll_lock_free(config_id: int) -> bool:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT NOT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND classid = %s AND objid = %s)",
            [POLL_LOCK_NAMESPACE, config_id],
        )
        return cursor.fetchone()[0]


def test_a_worker_killed_between_the_commit_and_the_ack_leaves_the_message_acknowledged_only_by_the_next_poll(
    tmp_path, broker, customer, epp_server, epp_certificates, epp_registrar
):
    config = epp_registrar(timeout=60)  # the stalled acknowledgement waits until the test kills the worker
    epp_server.add_domain("killed.test", sponsor="registrar-b", auth_info="their-code")
    with EppSession(
        host=epp_server.host,
        port=epp_server.port,
        username="registrar-a",
        password=epp_server.accounts["registrar-a"],
        ca_file=epp_certificates.ca_file,
    ) as session:
        session.domain_transfer_request(name="killed.test", auth_info="their-code")
    domain = DomainFactory(
        client=customer,
        name="killed.test",
        status=Domain.Status.PENDING_TRANSFER,
        registration_type=Domain.RegistrationType.TRANSFER,
        expiry_date=None,
        registrar="epp",
        created_at=timezone.now() - datetime.timedelta(hours=1),
    )
    held = epp_server.complete_transfer("killed.test")
    epp_server.stall_command("poll:ack")

    with celery_worker_process([PROVISIONING_QUEUE], tmp_path / "first.log") as first:
        assert automation_run(today=timezone.localdate(), only=["registrar_poll"], trigger="test").ok
        wait_for(lambda: epp_server.count("poll:ack") == 1, "the acknowledgement", first.log)
        recorded = RegistrarPollMessage.objects.get()  # committed before the acknowledgement was sent
        first.process.send_signal(signal.SIGKILL)
        first.process.wait(20)
    assert recorded.acked_at is None and recorded.outcome == RegistrarPollMessage.Outcome.APPLIED
    with epp_server.lock:
        assert [m.message_id for m in epp_server.registry.queues["registrar-a"]] == [recorded.message_id]
    killed = RegistrarPoll.objects.get()
    assert killed.status == RegistrarPoll.Status.RUNNING
    wait_for(lambda: _poll_lock_free(config.pk), "the killed worker's lock to go", first.log)

    with celery_worker_process([PROVISIONING_QUEUE], tmp_path / "second.log") as second:
        assert automation_run(today=timezone.localdate(), only=["registrar_poll"], trigger="test").ok
        after = wait_for(
            lambda: RegistrarPoll.objects.filter(pk__gt=killed.pk, status=RegistrarPoll.Status.SUCCEEDED).first(),
            "the next poll",
            second.log,
        )
    assert after.messages_read == 1
    with epp_server.lock:
        assert epp_server.registry.queues["registrar-a"] == []
    recorded.refresh_from_db()
    assert recorded.acked_at is not None and RegistrarPollMessage.objects.count() == 1
    killed.refresh_from_db()
    assert killed.status == RegistrarPoll.Status.FAILED and "Did not finish" in killed.error
    domain.refresh_from_db()
    assert (domain.status, domain.expiry_date) == (Domain.Status.ACTIVE, held.expires_at.date())
    assert ActivityLog.objects.filter(action="domain_activated", subject_id=domain.pk).count() == 1
    assert Event.objects.filter(name="DomainActivated", payload__domain_id=domain.pk).count() == 1
