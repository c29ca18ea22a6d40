"""A real Celery worker process for integration tests, on queues of the test's own (each xdist worker has its own
queue names and node name, so two of them on one Redis never take each other's tasks)."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.db import connection

from config.celery import app as celery_app

XDIST_WORKER = os.environ.get("PYTEST_XDIST_WORKER", "main")


def queue_for(name: str) -> str:
    return f"{name}-test-{XDIST_WORKER}"


def database_url() -> str:
    db = connection.settings_dict
    auth = db["USER"] + (f":{db['PASSWORD']}" if db["PASSWORD"] else "")
    return f"postgres://{auth}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


@dataclass(frozen=True)
class Worker:
    process: subprocess.Popen  # solo: the worker itself; prefork: its main process (the pool's parent)
    log: Path
    node: str


@contextlib.contextmanager
def celery_worker(
    queues: list[str], log_path: Path, *, concurrency: int = 1, env: dict[str, str] | None = None
) -> Iterator[Path]:
    """Start a worker on `queues` against the test database and Redis (with `env` added to its environment, e.g.
    the queue names its own tasks send to); yield its log; stop it."""
    with celery_worker_process(queues, log_path, concurrency=concurrency, env=env) as worker:
        yield worker.log


@contextlib.contextmanager
def celery_worker_process(
    queues: list[str],
    log_path: Path,
    *,
    concurrency: int = 1,
    env: dict[str, str] | None = None,
    prefork: bool = False,
) -> Iterator[Worker]:
    """celery_worker, yielding the process too (a test that kills it). One process (solo) or `concurrency`
    threads; `prefork`: a main process and `concurrency` pool children, each replaced when it dies."""
    node = f"test-{XDIST_WORKER}-{os.getpid()}-{queues[0]}@{socket.gethostname()}"
    with celery_app.connection_for_write() as broker:
        for queue in queues:
            broker.default_channel.queue_purge(queue)
    env = {
        **os.environ,
        **(env or {}),
        "DJANGO_SETTINGS_MODULE": "config.settings.base",
        "DATABASE_URL": database_url(),
        "REDIS_URL": settings.REDIS_URL,
    }
    if prefork:
        pool = ["--pool=prefork", f"--concurrency={concurrency}"]
    else:
        pool = ["--pool=solo"] if concurrency == 1 else ["--pool=threads", f"--concurrency={concurrency}"]
    log = log_path.open("w")
    process = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "config", "worker", *pool, "--loglevel=INFO", "--without-gossip",
         "--without-mingle", "--without-heartbeat", "-Q", ",".join(queues), "-n", node],
        cwd=Path(settings.BASE_DIR),
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while not celery_app.control.ping(destination=[node], timeout=0.5):
            assert process.poll() is None, log_path.read_text()
            assert time.monotonic() < deadline, "worker did not answer a ping in 60 s"
        yield Worker(process, log_path, node)
    finally:
        process.terminate()
        process.wait(20)
        log.close()


@contextlib.contextmanager
def routed_through_the_broker(routes: dict[str, dict]) -> Iterator[None]:
    """Send tasks through Redis (the test settings run them in-process), with `routes` instead of the settings'."""
    conf = celery_app.conf
    saved = conf.task_always_eager, conf.task_routes
    conf.task_always_eager, conf.task_routes = False, routes
    celery_app.amqp.flush_routes()
    celery_app.amqp.__dict__.pop("router", None)  # a cached Router keeps the old table
    try:
        yield
    finally:
        conf.task_always_eager, conf.task_routes = saved
        celery_app.amqp.flush_routes()
        celery_app.amqp.__dict__.pop("router", None)
