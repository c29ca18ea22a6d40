"""The module queue with real Celery workers on Redis (issue 17, item 5): a worker SIGKILLed inside a create (its
pool child, or the whole worker) leaves the call to the next attempt, which finishes it with one account; two
admins accepting at once, or one submitting twice, make one create; a transient error is retried by the worker
after its countdown. Driven through the 'scripted' test module (its `sleep` holds the call inside the module) and
the PostgreSQL module on a private scram-sha-256 cluster (a lock held on the target by a second connection holds
the create inside its CREATE ROLE), so that the account's password is checked when the client's role logs in."""

import datetime
import os
import signal
import time
import uuid

import psycopg
import pytest
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from psycopg import sql

from billing.cycles import BillingCycle
from config.celery import app as celery_app
from core import crypto
from orders.services import CartItem, order_accept
from provisioning.models import ModuleCall, Server, ServerGroup, Service
from provisioning.queue.sweep import LOST_AFTER, module_calls_sweep
from provisioning.services import service_setup
from tests.concurrency import at_once
from tests.factories import PricingFactory, ProductFactory, ServiceFactory, scripted_pending_service, scripted_server
from tests.integration.worker_process import celery_worker_process, queue_for, routed_through_the_broker
from tests.provisioning.modules.servers import CLUSTER_PASSWORD, private_cluster, superuser_connection

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.django_db(transaction=True)]

PROVISIONING_QUEUE = queue_for("provisioning")
DEFAULT_QUEUE = queue_for("default")
RETRY_BASE_SECONDS = 2


@pytest.fixture(scope="module")
def target():
    """A PostgreSQL that checks passwords, for the PostgreSQL module's accounts (dropped with the cluster)."""
    with private_cluster() as server:
        yield server


@pytest.fixture
def journal(tmp_path):
    """Where the scripted module, in the worker, writes a line as each call enters it (action, key, pid, time)."""
    return tmp_path / "module-calls.txt"


@pytest.fixture
def broker():
    """The test's provisioning tasks go through Redis to this test's own queue; anything else to another one that
    no worker here consumes."""
    routes = {name: {"queue": PROVISIONING_QUEUE} for name in settings.CELERY_TASK_ROUTES if "provisioning" in name}
    with routed_through_the_broker({**routes, "*": {"queue": DEFAULT_QUEUE}}):
        yield


def worker(tmp_path, journal, name: str = "worker", *, prefork: bool = False):
    env = {
        "PROVISIONING_QUEUE": PROVISIONING_QUEUE,  # the worker's own retries go to this test's queue
        "PORTAL_MODULE_PACKAGES": "tests.module_package",
        "SCRIPTED_MODULE_JOURNAL": str(journal),
        "PORTAL_MODULE_RETRY_BASE_SECONDS": str(RETRY_BASE_SECONDS),
        "PORTAL_MODULE_TIMEOUT_SECONDS": "60",  # the held CREATE ROLE must not time out while the test kills
    }
    return celery_worker_process([PROVISIONING_QUEUE], tmp_path / f"{name}.log", env=env, prefork=prefork)


def wait_for(check, what: str, timeout: float = 60, log=None):
    deadline = time.monotonic() + timeout
    while not (value := check()):
        assert time.monotonic() < deadline, f"{what} did not happen in {timeout} s\n" + (log.read_text() if log else "")
        time.sleep(0.05)
    return value


def journal_lines(journal) -> list[list[str]]:
    return [line.split() for line in journal.read_text().splitlines()] if journal.exists() else []


def call_of(service: Service) -> ModuleCall:
    return ModuleCall.objects.get(service=service, action="create")


def status_of(service: Service) -> str:
    return call_of(service).status


def set_up(service: Service, **choices) -> None:
    with transaction.atomic():
        service_setup(service=Service.objects.select_for_update().get(pk=service.pk), actor=None, **choices)


def scripted_service(customer, **product_settings) -> Service:
    group = ServerGroup.objects.create(name=f"panels {uuid.uuid4().hex[:6]}")
    scripted_server(group)
    return scripted_pending_service(customer, group, **product_settings)


def postgresql_product(target):
    group = ServerGroup.objects.create(name=f"databases {uuid.uuid4().hex[:6]}")
    server = Server.objects.create(
        name="db-1",
        hostname=target.hostname,
        port=target.port,
        username=target.username,
        module="postgresql",
        max_accounts=10,
        credentials_token=crypto.encrypt_json({"password": CLUSTER_PASSWORD}),
    )
    server.groups.add(group)
    return ProductFactory(
        name="Managed PostgreSQL", module="postgresql", server_group=group, module_settings={"connection_limit": 3}
    )


def postgresql_service(customer, target) -> Service:
    product = postgresql_product(target)
    return ServiceFactory(
        client=customer,
        product=product,
        module="postgresql",
        module_settings=product.module_settings,
        status=Service.Status.PENDING,
    )


def held_create_role(target, username: str) -> psycopg.Connection:
    """A second connection that begins to create the same role and waits: the module's CREATE ROLE waits for it
    (the unique name) until it rolls back. Nothing else on the server is held."""
    blocker = psycopg.connect(
        host=target.address, port=target.port, user=target.username, password=CLUSTER_PASSWORD, dbname="postgres"
    )
    blocker.execute(sql.SQL("CREATE ROLE {}").format(sql.Identifier(username)))  # its transaction stays open
    return blocker


def create_waits_on_the_lock(target) -> bool:
    with superuser_connection(target) as connection:
        return connection.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'portal-provisioning'"
            " AND wait_event_type = 'Lock' AND query LIKE 'CREATE ROLE%%'"
        ).fetchone()[0]


def roles_named(target, username: str) -> list[tuple]:
    with superuser_connection(target) as connection:
        return connection.execute(
            "SELECT rolname, shobj_description(oid, 'pg_authid') FROM pg_roles WHERE rolname = %s", (username,)
        ).fetchall()


def logs_in(target, service: Service) -> str:
    with psycopg.connect(
        host=target.address,
        port=target.port,
        user=service.username,
        password=crypto.decrypt(service.password_token),
        dbname=service.account["database"],
        connect_timeout=5,
    ) as client:
        return client.execute("SELECT current_user || '@' || current_database()").fetchone()[0]


def pool_child_running_the_task(node: str) -> int:
    """The pid of the pool child running this worker's one active task (the worker's main process answers)."""

    def active():
        tasks = (celery_app.control.inspect(destination=[node], timeout=1).active() or {}).get(node) or []
        return tasks[0]["worker_pid"] if tasks else None

    return wait_for(active, "the worker reporting its active task")


def assert_one_account_active(service: Service, *, attempts: int) -> None:
    service.refresh_from_db()
    call = call_of(service)
    assert (call.status, call.attempts) == ("succeeded", attempts)
    assert service.status == Service.Status.ACTIVE and service.username
    assert ModuleCall.objects.filter(service=service).count() == 1


# --- Killed inside a create ---------------------------------------------------------------------------------


def test_a_pool_child_killed_inside_a_create_is_replaced_and_the_redelivered_task_finishes_it(
    tmp_path, customer, journal, broker
):
    service = scripted_service(customer, sleep=3)
    with worker(tmp_path, journal, prefork=True) as running:
        set_up(service)
        entered = wait_for(lambda: journal_lines(journal), "the create entering the module", log=running.log)
        child = int(entered[0][2])
        assert child != running.process.pid and status_of(service) == "running"
        os.kill(child, signal.SIGKILL)
        wait_for(lambda: status_of(service) == "succeeded", "the create succeeding", log=running.log)
        assert running.process.poll() is None  # the main process lived on and gave the message to a new child
        log = running.log.read_text()
    assert "WorkerLostError" in log, log
    lines = journal_lines(journal)
    assert [(action, key) for action, key, _pid, _at in lines] == [("create", call_of(service).idempotency_key)] * 2
    assert int(lines[1][2]) != child
    assert_one_account_active(service, attempts=2)


def test_a_whole_worker_killed_inside_a_create_leaves_it_to_the_sweep_and_a_new_worker(
    tmp_path, customer, journal, broker
):
    service = scripted_service(customer, sleep=3)
    with worker(tmp_path, journal, "first") as first:
        set_up(service)
        wait_for(lambda: journal_lines(journal), "the create entering the module", log=first.log)
        assert int(journal_lines(journal)[0][2]) == first.process.pid
        first.process.send_signal(signal.SIGKILL)
        first.process.wait(10)
    call = call_of(service)
    assert (call.status, call.attempts) == ("running", 1)  # nobody finishes it: its message died unacked
    with worker(tmp_path, journal, "second") as second:
        # A minute on, the sweep (beat, every minute) takes a Running call with no live worker for lost.
        swept = module_calls_sweep(now=timezone.now() + LOST_AFTER + datetime.timedelta(seconds=1))
        assert swept.sent == 1
        wait_for(lambda: status_of(service) == "succeeded", "the create succeeding", log=second.log)
        pids = {int(line[2]) for line in journal_lines(journal)}
    assert pids == {first.process.pid, second.process.pid}
    assert_one_account_active(service, attempts=2)


def test_a_pool_child_killed_in_a_postgresql_create_held_on_a_lock_leaves_exactly_one_role_that_logs_in(
    tmp_path, customer, journal, broker, target
):
    service = postgresql_service(customer, target)
    username = f"k{uuid.uuid4().hex[:10]}"
    blocker = held_create_role(target, username)
    try:
        with worker(tmp_path, journal, prefork=True) as running:
            set_up(service, username=username)
            wait_for(lambda: create_waits_on_the_lock(target), "the create waiting on the lock", log=running.log)
            child = pool_child_running_the_task(running.node)
            assert child != running.process.pid
            os.kill(child, signal.SIGKILL)
            # The new child takes the redelivered message and waits on the same lock, until it is released.
            wait_for(lambda: call_of(service).attempts == 2, "the second attempt starting", log=running.log)
            blocker.rollback()
            wait_for(lambda: status_of(service) != "running", "the create finishing", log=running.log)
            log = running.log.read_text()
    finally:
        blocker.close()
    assert "WorkerLostError" in log, log
    assert_one_account_active(service, attempts=2)
    assert roles_named(target, username) == [(username, f"portal service {service.pk}")]
    assert logs_in(target, service) == f"{username}@{service.account['database']}"


def test_a_whole_worker_killed_in_a_postgresql_create_held_on_a_lock_leaves_exactly_one_role_that_logs_in(
    tmp_path, customer, journal, broker, target
):
    service = postgresql_service(customer, target)
    username = f"w{uuid.uuid4().hex[:10]}"
    blocker = held_create_role(target, username)
    try:
        with worker(tmp_path, journal, "first") as first:
            set_up(service, username=username)
            wait_for(lambda: create_waits_on_the_lock(target), "the create waiting on the lock", log=first.log)
            first.process.send_signal(signal.SIGKILL)
            first.process.wait(10)
        # The dead worker's statement still waits on the server: it ends (rolled back) once the lock is released.
        blocker.rollback()
        wait_for(lambda: not create_waits_on_the_lock(target), "the dead worker's statement ending")
        assert roles_named(target, username) == []
        with worker(tmp_path, journal, "second") as second:
            module_calls_sweep(now=timezone.now() + LOST_AFTER + datetime.timedelta(seconds=1))
            wait_for(lambda: status_of(service) != "running", "the create finishing", log=second.log)
    finally:
        blocker.close()
    assert_one_account_active(service, attempts=2)
    assert roles_named(target, username) == [(username, f"portal service {service.pk}")]
    assert logs_in(target, service) == f"{username}@{service.account['database']}"
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        psycopg.connect(
            host=target.address, port=target.port, user=username, password="wrong", dbname=username, connect_timeout=5
        ).close()


# --- Two accepts, a double submit -----------------------------------------------------------------------------


def _accept(order) -> str:
    try:
        order_accept(order=order, actor=None)
    except ValidationError:
        return "refused"
    return "accepted"


def _ordered(customer, place, product):
    PricingFactory(product=product, currency=customer.currency, billing_cycle=BillingCycle.MONTHLY)
    return place(customer, CartItem(product_id=product.pk, billing_cycle=BillingCycle.MONTHLY))


def test_two_admins_accepting_an_order_at_once_make_one_create_and_one_role(
    tmp_path, customer, place, journal, broker, target
):
    order = _ordered(customer, place, postgresql_product(target))
    service = order.services.get()
    with worker(tmp_path, journal) as running:
        assert sorted(at_once(lambda: _accept(order))) == ["accepted", "refused"]
        wait_for(lambda: status_of(service) == "succeeded", "the create succeeding", log=running.log)
    assert_one_account_active(service, attempts=1)
    assert [name for name, _tag in roles_named(target, service.username)] == [service.username]
    assert logs_in(target, service) == f"{service.username}@{service.account['database']}"


def test_one_admin_submitting_the_accept_twice_makes_one_create(tmp_path, customer, place, journal, broker):
    scripted = scripted_service(customer)
    order = _ordered(customer, place, scripted.product)
    service = order.services.get()
    with worker(tmp_path, journal) as running:
        assert [_accept(order), _accept(order)] == ["accepted", "refused"]
        set_up(service)  # and a setup asked for again (a replayed event): the same call
        wait_for(lambda: status_of(service) == "succeeded", "the create succeeding", log=running.log)
    assert_one_account_active(service, attempts=1)
    assert [line[:2] for line in journal_lines(journal)] == [["create", call_of(service).idempotency_key]]


# --- Honest retries -------------------------------------------------------------------------------------------


def test_a_transient_failure_is_retried_by_the_worker_after_its_countdown(tmp_path, customer, journal, broker):
    service = scripted_service(customer, fail="transient", fail_times=2)
    waits = []

    def retrying_with_a_new_wait():
        call = call_of(service)
        if call.status == "retrying" and (call.finished_at, call.next_attempt_at) not in waits:
            waits.append((call.finished_at, call.next_attempt_at))
        return call.status == "succeeded"

    with worker(tmp_path, journal) as running:
        set_up(service)
        wait_for(retrying_with_a_new_wait, "the create succeeding", log=running.log)
    lines = journal_lines(journal)
    entered = [datetime.datetime.fromtimestamp(float(line[3]), tz=datetime.UTC) for line in lines]
    assert len(entered) == 3 and len(waits) == 2
    for attempt, (failed_at, due_at) in enumerate(waits, start=1):
        # The wait doubles from the base with equal jitter, and the worker ran the retry no sooner than it was due.
        delay = RETRY_BASE_SECONDS * 2 ** (attempt - 1)
        assert datetime.timedelta(seconds=delay / 2) <= due_at - failed_at <= datetime.timedelta(seconds=delay)
        assert entered[attempt] >= due_at - datetime.timedelta(milliseconds=50)
    assert_one_account_active(service, attempts=3)
