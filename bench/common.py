"""What every benchmark script shares: percentiles, and a Django set up on the bench database.

The bench database is created when it is missing (PostgreSQL) and, unless asked to keep it, emptied: never
point BENCH_DATABASE_URL at a database you care about. Tasks run in-process, so the figures are our code and
the database, not a broker.
"""

import os
import sys
import time
from collections.abc import Callable


def percentile(samples: list[float], pct: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(pct / 100 * (len(ordered) - 1)))]


def setup_django(
    database_url: str, *, flush: bool = True, production_like: bool = False, env: dict[str, str] | None = None
) -> None:
    """Point Django at `database_url` (creating a PostgreSQL database if it is missing), migrate, and empty it
    unless `flush` is off. `production_like` turns DEBUG off: no query log, cached templates."""
    os.environ["DATABASE_URL"] = database_url
    os.environ.pop("REDIS_URL", None)
    os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings.test"
    os.environ.setdefault("LOG_LEVEL", "ERROR")
    if production_like:
        os.environ["DJANGO_DEBUG"] = "false"
    os.environ.update(env or {})
    if database_url.startswith("postgres"):
        import psycopg

        name = database_url.rsplit("/", 1)[1]
        admin_url = database_url.rsplit("/", 1)[0] + "/postgres"
        with psycopg.connect(admin_url, autocommit=True) as conn:
            if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
                conn.execute(f'CREATE DATABASE "{name}"')
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    if flush:
        call_command("flush", interactive=False, verbosity=0)


def timed_ms(action: Callable[[], object], times: int, *, before: Callable[[], object] | None = None) -> list[float]:
    """Wall milliseconds of `times` calls of `action`; `before` runs ahead of each call, untimed."""
    samples = []
    for _ in range(times):
        if before is not None:
            before()
        started = time.perf_counter()
        action()
        samples.append((time.perf_counter() - started) * 1000)
    return samples


def print_ratio_targets(figures: dict[str, float], targets: dict[str, tuple[str, float]]) -> bool:
    """Print the figures (ms) as a Markdown table with, for those that have one, their ratio to the floor measured
    in the same run and its target; `targets`: measure -> (its floor's measure, the ratio it may reach). True when
    every target is met."""
    print("| measure | ms | ratio to floor | target |")
    print("|---|---:|---:|---:|")
    met = True
    for name, value in figures.items():
        if name not in targets:
            print(f"| {name} | {value:.3f} | | |")
            continue
        floor_name, most = targets[name]
        ratio = value / figures[floor_name]
        ok = ratio <= most
        met &= ok
        print(f"| {name} | {value:.3f} | {ratio:.2f} ({floor_name}) | ≤ {most:g}{'' if ok else ' MISSED'} |")
    return met


def bench_urlconf(name: str, patterns: list) -> str:
    """The project's urls behind these bench-only `patterns`, as a module Django can import by `name` (for
    override_settings(ROOT_URLCONF=...))."""
    import types

    from django.conf import settings
    from django.urls import include, path

    urlconf = types.ModuleType(name)
    urlconf.urlpatterns = [*patterns, path("", include(settings.ROOT_URLCONF))]
    sys.modules[name] = urlconf
    return name


def copy_floor(after: dict[str, int]) -> tuple[float, int]:
    """The COPY floor: COPY the rows of these tables with an id above the given one (the rows a step wrote) into
    empty look-alike tables with the same indexes and constraints; returns (seconds, rows). PostgreSQL only."""
    import io
    import time

    from django.db import connection

    raw = connection.connection
    dumps = {}
    with raw.cursor() as cursor:
        for table, last_id in after.items():
            buffer = io.BytesIO()
            with cursor.copy(f"COPY (SELECT * FROM {table} WHERE id > {int(last_id)}) TO STDOUT") as copy:
                for chunk in copy:
                    buffer.write(chunk)
            dumps[table] = buffer.getvalue()
            cursor.execute(f"DROP TABLE IF EXISTS bench_copy_{table}")
            cursor.execute(f"CREATE TABLE bench_copy_{table} (LIKE {table} INCLUDING ALL)")
    raw.commit()
    rows = sum(dump.count(b"\n") for dump in dumps.values())
    started = time.perf_counter()
    with raw.cursor() as cursor:
        for table, dump in dumps.items():
            with cursor.copy(f"COPY bench_copy_{table} FROM STDIN") as copy:
                copy.write(dump)
    raw.commit()
    seconds = time.perf_counter() - started
    with raw.cursor() as cursor:
        for table in after:
            cursor.execute(f"DROP TABLE bench_copy_{table}")
    raw.commit()
    return seconds, rows


def celery_worker(
    database_url: str,
    redis_url: str,
    *,
    queue: str,
    node_prefix: str,
    env: dict[str, str] | None = None,
    include: str = "",
):
    """A real Celery worker (its own process, solo pool) on `queue` of the bench's Redis, the queue purged first,
    started and answering a ping before this returns. The caller terminates it."""
    import subprocess

    from config.celery import app as celery_app

    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    worker_env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.base",
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "PROVISIONING_QUEUE": queue,
        "LOG_LEVEL": "WARNING",
        "DJANGO_DEBUG": "false",
        **(env or {}),
    }
    node = f"{node_prefix}-{os.getpid()}@localhost"
    with celery_app.connection_for_write() as broker:
        broker.default_channel.queue_purge(queue)
    command = [sys.executable, "-m", "celery", "-A", "config", "worker", "--pool=solo", "--loglevel=WARNING",
               "--without-gossip", "--without-mingle", "--without-heartbeat", "-Q", queue, "-n", node]  # fmt: skip
    if include:
        command += ["--include", include]
    worker = subprocess.Popen(command, cwd=root, env=worker_env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while not celery_app.control.ping(destination=[node], timeout=0.5):
        assert worker.poll() is None and time.monotonic() < deadline, "the worker did not start"
    return worker
