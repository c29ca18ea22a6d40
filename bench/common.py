"""What every benchmark script shares: percentiles, and a Django set up on the bench database.

The bench database is created when it is missing (PostgreSQL) and, unless asked to keep it, emptied: never
point BENCH_DATABASE_URL at a database you care about. Tasks run in-process, so the figures are our code and
the database, not a broker.
"""

import os


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


def print_targets(figures: dict[str, float], targets_ms: dict[str, float]) -> bool:
    """Print the figures as a Markdown table with their targets; True when every target is met."""
    print("| measure | ms | target |")
    print("|---|---:|---:|")
    met = True
    for name, value in figures.items():
        target = targets_ms.get(name)
        ok = target is None or value <= target
        met &= ok
        print(f"| {name} | {value:.1f} | {f'≤ {target:.0f}' if target else ''}{'' if ok else ' MISSED'} |")
    return met


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
