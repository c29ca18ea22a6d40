"""Nothing emitted is lost: with a real worker on a Redis of the test's own, an outage of the broker at commit and
a worker killed inside a handler each end with every reaction run once.

The test starts its own `redis-server` on a free loopback port (no persistence) instead of stopping the machine's,
which other tests use; the worker and this process both use it."""

import datetime
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.conf import settings

from billing.services import payment_record
from config.celery import app as celery_app
from notifications import sweep
from notifications.bus import emit, handlers_for
from notifications.models import ActivityLog, Event, HandlerRun
from notifications.tasks import bus_sweep, dispatch_event
from provisioning.models import Service
from tests.integration.worker_process import database_url

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.django_db(transaction=True)]

BASE_DIR = Path(settings.BASE_DIR)
XDIST_WORKER = os.environ.get("PYTEST_XDIST_WORKER", "main")
QUEUE = f"{settings.CELERY_TASK_DEFAULT_QUEUE}-bus-test-{XDIST_WORKER}"
NODE = f"bus-test-{XDIST_WORKER}-{os.getpid()}@{socket.gethostname()}"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_for(condition, *, what: str, timeout: float = 60, log: Path | None = None):
    deadline = time.monotonic() + timeout
    while not (result := condition()):
        assert time.monotonic() < deadline, f"{what} did not happen in {timeout} s\n" + (log.read_text() if log else "")
        time.sleep(0.1)
    return result


class RedisServer:
    def __init__(self, tmp_path: Path) -> None:
        self.port, self.log, self.process = _free_port(), tmp_path / "redis.log", None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.process = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
            stdout=self.log.open("a"),
            stderr=subprocess.STDOUT,
        )
        _wait_for(self._answers, what="redis-server answering", timeout=20, log=self.log)

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(20)

    def _answers(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(16).startswith(b"+PONG")
        except OSError:
            return False


@pytest.fixture
def redis_server(tmp_path):
    server = RedisServer(tmp_path)
    server.start()
    yield server
    if server.process.poll() is None:
        server.stop()


def _point_the_app_at(url: str) -> None:
    """This process sends its tasks to `url`: the app lets go of its connection pools (kombu keeps one per URL), so
    the next send takes the pool of `url`."""
    celery_app.conf.broker_url = url
    celery_app._pool = None
    celery_app.amqp._producer_pool = None


@pytest.fixture
def through_our_redis(redis_server):
    """The test settings run tasks in-process; this test sends them through its own Redis, to its worker's queue."""
    _point_the_app_at(redis_server.url)
    celery_app.conf.task_always_eager = False
    celery_app.conf.task_default_queue = QUEUE
    yield redis_server
    celery_app.conf.task_always_eager = True
    celery_app.conf.task_default_queue = settings.CELERY_TASK_DEFAULT_QUEUE
    _point_the_app_at(settings.CELERY_BROKER_URL)


@pytest.fixture
def start_worker(tmp_path, through_our_redis):
    """Start a prefork worker (one child: a child killed mid-task is noticed by its parent, which requeues the task)
    on the test's Redis and queue, with extra environment; stopped at the end."""
    started = []

    def _start(**extra_env: str) -> Path:
        log = tmp_path / "worker.log"
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "config.settings.base",
            "DATABASE_URL": database_url(),
            "REDIS_URL": through_our_redis.url,
            **extra_env,
        }
        process = subprocess.Popen(
            [
                *(sys.executable, "-m", "celery", "-A", "config", "worker", "--pool=prefork", "--concurrency=1"),
                *("--loglevel=INFO", "--without-gossip", "--without-mingle", "--without-heartbeat"),
                *("-Q", QUEUE, "-n", NODE),
            ],
            cwd=BASE_DIR,
            env=env,
            stdout=log.open("w"),
            stderr=subprocess.STDOUT,
        )
        started.append(process)
        _wait_for(
            lambda: process.poll() is not None or celery_app.control.ping(destination=[NODE], timeout=0.5),
            what="the worker answering a ping",
            log=log,
        )
        assert process.poll() is None, log.read_text()
        return log

    yield _start
    for process in started:
        process.terminate()
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:  # a prefork worker whose child was killed can take 30 s to shut down
            process.kill()
            process.wait(15)


def test_events_committed_while_redis_is_down_are_dispatched_once_it_is_back(
    pending_order, start_worker, through_our_redis
):
    log = start_worker()
    service = Service.objects.get(order=pending_order)
    due_before = service.next_due_date
    invoice = pending_order.invoice

    through_our_redis.stop()
    payment_record(invoice_id=invoice.pk, amount=invoice.balance_due, gateway="banktransfer", actor=None)
    # The payment committed; its dispatch tasks could not be sent, and its events wait in the outbox.
    left = list(Event.objects.filter(dispatched_at__isnull=True).values_list("name", flat=True))
    assert "InvoicePaid" in left
    assert not HandlerRun.objects.filter(event__name="InvoicePaid").exists()

    through_our_redis.start()
    bus_sweep.delay(0)  # what beat sends every minute; at once here, for events of any age
    _wait_for(
        lambda: not Event.objects.filter(dispatched_at__isnull=True).exists(),
        what="the sweep dispatching what was left",
        log=log,
    )
    paid = Event.objects.get(name="InvoicePaid")
    runs = list(HandlerRun.objects.filter(event=paid).values_list("handler", "status", "attempts"))
    assert sorted(runs) == sorted((r.dotted_name, "succeeded", 1) for r in handlers_for("InvoicePaid"))
    service.refresh_from_db()
    assert service.next_due_date > due_before
    moved_to = service.next_due_date

    again = sweep.bus_sweep(older_than=datetime.timedelta(0))  # a second sweep, here: nothing is left to do
    assert (again.events_dispatched, again.retries_due) == (0, 0)
    assert HandlerRun.objects.filter(event=paid).count() == len(runs)
    assert not HandlerRun.objects.exclude(attempts=1).exists()
    service.refresh_from_db()
    assert service.next_due_date == moved_to


def test_a_worker_killed_inside_a_handler_runs_it_again_and_its_effect_happens_once(start_worker, tmp_path):
    signals = tmp_path / "signals"
    signals.mkdir()
    log = start_worker(PORTAL_HOOK_PACKAGES="tests.integration.bus_hooks", BUS_TEST_SIGNALS=str(signals))
    event = emit("GatewayEventFailed", gateway_event_id=1, gateway="sandbox", error="test")  # autocommit: sent now

    first = _wait_for(lambda: list(signals.glob("started-*")), what="the handler starting", log=log)[0]
    os.kill(int(first.name.removeprefix("started-")), signal.SIGKILL)  # the child running the handler
    (signals / "go").touch()

    handler = "tests.integration.bus_hooks.blocking_effect"
    run = _wait_for(
        lambda: HandlerRun.objects.filter(event=event, handler=handler, status="succeeded").first(),
        what="the handler running again after the kill",
        log=log,
    )
    assert len(list(signals.glob("started-*"))) == 2  # it ran twice, in two processes
    assert run.attempts == 1  # the killed attempt's claim rolled back with its work
    assert ActivityLog.objects.filter(action="bus_test_effect").count() == 1
    # Dispatching the event again (a duplicate task) does not repeat the effect.
    dispatch_event.delay(event.pk)
    _wait_for(lambda: log.read_text().count("notifications.dispatch_event") >= 4, what="the duplicate", log=log)
    assert ActivityLog.objects.filter(action="bus_test_effect").count() == 1
