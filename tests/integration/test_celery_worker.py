"""The Celery app, a real worker process and the Redis broker run a task end to end."""

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection, transaction

from config.celery import app as celery_app
from notifications.bus import emit

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.django_db(transaction=True)]

BASE_DIR = Path(settings.BASE_DIR)
# Under xdist each worker's test has a queue and a Celery node name of its own, so two of them on one Redis never
# take each other's tasks, purge each other's queue or answer each other's ping.
XDIST_WORKER = os.environ.get("PYTEST_XDIST_WORKER", "main")
QUEUE = f"{settings.CELERY_TASK_DEFAULT_QUEUE}-test-{XDIST_WORKER}"
NODE = f"test-{XDIST_WORKER}-{os.getpid()}@{socket.gethostname()}"


def _database_url() -> str:
    db = connection.settings_dict
    auth = db["USER"] + (f":{db['PASSWORD']}" if db["PASSWORD"] else "")
    return f"postgres://{auth}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


@pytest.fixture
def worker(tmp_path):
    with celery_app.connection_for_write() as connection:
        connection.default_channel.queue_purge(QUEUE)  # no leftovers from an earlier run
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.base",
        "DATABASE_URL": _database_url(),
        "REDIS_URL": settings.REDIS_URL,
    }
    log = (tmp_path / "worker.log").open("w")
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "config",
            "worker",
            "--pool=solo",
            "--loglevel=INFO",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
            "-Q",
            QUEUE,
            "-n",
            NODE,
        ],
        cwd=BASE_DIR,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 60
        while not celery_app.control.ping(destination=[NODE], timeout=0.5):
            assert process.poll() is None, (tmp_path / "worker.log").read_text()
            assert time.monotonic() < deadline, "worker did not answer a ping in 60 s"
        yield tmp_path / "worker.log"
    finally:
        process.terminate()
        process.wait(20)
        log.close()


@pytest.fixture
def through_the_broker():
    """The test settings run tasks in-process; this test sends them through Redis instead, to its worker's queue."""
    celery_app.conf.task_always_eager = False
    celery_app.conf.task_default_queue = QUEUE
    yield
    celery_app.conf.task_always_eager = True
    celery_app.conf.task_default_queue = settings.CELERY_TASK_DEFAULT_QUEUE


def test_an_event_is_dispatched_by_a_real_worker_through_redis(worker, through_the_broker):
    with transaction.atomic():
        event = emit("OrderCreated", order_id=42)
    deadline = time.monotonic() + 30
    event.refresh_from_db()
    while event.dispatched_at is None and time.monotonic() < deadline:
        time.sleep(0.2)
        event.refresh_from_db()
    assert event.dispatched_at is not None, worker.read_text()
    assert "notifications.dispatch_event" in worker.read_text()
