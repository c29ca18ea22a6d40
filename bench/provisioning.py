#!/usr/bin/env python
"""Benchmark of auto-setup on payment through the module queue (issue 17, item 10).

    BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/portal_bench_provisioning \
    BENCH_REDIS_URL=redis://127.0.0.1:6379/13 .venv/bin/python bench/provisioning.py [--services 500]

PostgreSQL only; the bench database is emptied first, and the Redis database's bench queue purged: never point them
at ones you care about. The PostgreSQL module's accounts are made on the bench database's server (roles and
databases named benchpg_<run>_<n>) and dropped at the end, and at the start if an earlier run left any.

A real Celery worker (a separate process, solo pool, on the bench's provisioning queue through Redis) runs the
module calls. For each of `--services` Pending services (ordered through checkout, product auto_setup=on_payment,
one per order and client), one after the other: the invoice is paid with payment_record (what a gateway callback
records), and from its commit ("payment confirmed") the clock runs until the service row reads Active (polled every 2
ms): service_setup (what the InvoicePaid handler setup_on_payment calls; the bench calls it itself right after the
payment commits, leaving the event's dispatch task out, and names the PostgreSQL accounts to drop them), the create
call's task through Redis, the worker's claim,
module call and record. With the Manual module (a to-do for the admin) and with the PostgreSQL module (a role and
a database on the local server).

Floor, in the same run and interleaved with the Manual services: the round trip of a no-op task (bench/noop_task.py)
through the same broker and worker, sent and its result awaited. Target (issue 17): the Manual module's p95 at most
3x the no-op round trip's p95; exits 1 when missed.

Prints a Markdown table for docs/PERFORMANCE.md and writes bench/results/provisioning.json.
"""

import argparse
import datetime
import json
import os
import platform
import secrets
import statistics
import sys
import time
from datetime import UTC
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from common import celery_worker, percentile, setup_django  # noqa: E402

QUEUE = "provisioning-bench"
TARGET_RATIO = 3.0
NAME_PREFIX = "benchpg_"


def _orders(product, count: int, label: str) -> list[tuple[int, int]]:
    """`count` orders of `product`, each by a client of its own: (service id, invoice id) each."""
    from billing.models import Currency
    from billing.services import client_create
    from orders.services import CartItem, order_place

    usd = Currency.objects.get(code="USD")
    placed = []
    for n in range(count):
        client = client_create(
            contact_name=f"Bench {label} {n}", email=f"{label}{n}@example.com", country="DE", currency=usd, actor=None
        )
        order = order_place(client=client, actor=None, items=[CartItem(product_id=product.pk, billing_cycle="monthly")])
        placed.append((order.services.get().pk, order.invoice_id))
    return placed


def _paid_to_active(service_id: int, invoice_id: int, *, username: str = "") -> float:
    """Seconds from the payment's commit until the service reads Active."""
    from django.db import transaction

    from billing.models import Invoice
    from billing.services import payment_record
    from provisioning.models import Service
    from provisioning.services import service_setup

    invoice = Invoice.objects.get(pk=invoice_id)
    payment_record(
        invoice_id=invoice_id,
        amount=invoice.balance_due,
        gateway="banktransfer",
        gateway_transaction_id=f"bench-{invoice_id}",
        actor=None,
    )
    confirmed = time.perf_counter()
    with transaction.atomic():
        # As the InvoicePaid handler reads it (provisioning.services.auto_setup).
        service = Service.objects.select_for_update(of=("self",)).select_related("product", "client").get(pk=service_id)
        service_setup(service=service, actor=None, username=username)
    status = Service.objects.filter(pk=service_id).values_list("status", flat=True)
    deadline = confirmed + 60
    while status.first() != Service.Status.ACTIVE:
        assert time.perf_counter() < deadline, f"service #{service_id} not Active 60 s after its payment"
        time.sleep(0.002)
    return time.perf_counter() - confirmed


def _noop_round_trip() -> float:
    from config.celery import app as celery_app

    started = time.perf_counter()
    assert celery_app.send_task("bench.noop", queue=QUEUE).get(timeout=30) == "pong"
    return time.perf_counter() - started


def _drop_bench_accounts(connection_kwargs: dict) -> int:
    import psycopg
    from psycopg import sql

    with psycopg.connect(**connection_kwargs, dbname="postgres", autocommit=True) as connection:
        like = NAME_PREFIX.replace("_", r"\_") + "%"
        databases = [r[0] for r in connection.execute("SELECT datname FROM pg_database WHERE datname LIKE %s", [like])]
        for name in databases:
            connection.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name)))
        roles = [r[0] for r in connection.execute("SELECT rolname FROM pg_roles WHERE rolname LIKE %s", [like])]
        for name in roles:
            connection.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(name)))
    return len(roles)


def _figures(samples: list[float]) -> dict:
    ms = [s * 1000 for s in samples]
    return {"p50_ms": round(statistics.median(ms), 1), "p95_ms": round(percentile(ms, 95), 1)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--services", type=int, default=500)
    args = parser.parse_args()
    database_url = os.environ.get("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/portal_bench_provisioning")
    redis_url = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/13")
    setup_django(database_url, production_like=True, env={"REDIS_URL": redis_url, "PROVISIONING_QUEUE": QUEUE})

    from django.conf import settings
    from django.db import connection

    from billing.models import Currency
    from config.celery import app as celery_app
    from core import crypto
    from orders.models import AutoSetup, Product, ProductGroup, ProductPricing
    from provisioning.models import Server, ServerGroup

    celery_app.conf.task_always_eager = False
    db = settings.DATABASES["default"]
    target = {"host": db["HOST"] or "127.0.0.1", "port": int(db["PORT"] or 5432), "user": db["USER"]}
    if db["PASSWORD"]:
        target["password"] = db["PASSWORD"]
    left_over = _drop_bench_accounts(target)

    usd = Currency.objects.create(code="USD", prefix="$", is_default=True)
    group = ProductGroup.objects.create(name="Bench")
    servers = ServerGroup.objects.create(name="Bench databases")
    server = Server.objects.create(
        name="local PostgreSQL",
        hostname=target["host"],
        port=target["port"],
        username=target["user"],
        module="postgresql",
        max_accounts=args.services * 2,
        credentials_token=crypto.encrypt_json({"password": target.get("password", "")}),
    )
    server.groups.add(servers)
    products = {
        "manual": Product.objects.create(
            group=group, name="Dedicated (manual)", module="manual", auto_setup=AutoSetup.ON_PAYMENT
        ),
        "postgresql": Product.objects.create(
            group=group,
            name="Managed PostgreSQL",
            module="postgresql",
            server_group=servers,
            module_settings={"connection_limit": 5},
            auto_setup=AutoSetup.ON_PAYMENT,
        ),
    }
    for product in products.values():
        ProductPricing.objects.create(product=product, currency=usd, billing_cycle="monthly", price=Decimal("9.00"))
    started = time.perf_counter()
    placed = {name: _orders(product, args.services, name) for name, product in products.items()}
    placing_s = time.perf_counter() - started
    # Only the tables the timed path reads: a database-wide VACUUM also waits on the shared catalogs.
    with connection.cursor() as cursor:
        for table in ("provisioning_service", "billing_invoice", "provisioning_modulecall", "orders_order"):
            cursor.execute(f"VACUUM ANALYZE {table}")

    run = secrets.token_hex(3)
    worker = celery_worker(
        database_url,
        redis_url,
        queue=QUEUE,
        node_prefix="bench-provisioning",
        include="noop_task",
        env={"PYTHONPATH": os.pathsep.join([str(ROOT / "bench"), os.environ.get("PYTHONPATH", "")])},
    )
    samples: dict[str, list[float]] = {"noop": [], "manual": [], "postgresql": []}
    try:
        for _ in range(20):  # warm-up: the worker's and our connections, caches
            _noop_round_trip()
        started = time.perf_counter()
        for service_id, invoice_id in placed["manual"]:
            samples["noop"].append(_noop_round_trip())
            samples["manual"].append(_paid_to_active(service_id, invoice_id))
        for n, (service_id, invoice_id) in enumerate(placed["postgresql"]):
            samples["postgresql"].append(_paid_to_active(service_id, invoice_id, username=f"{NAME_PREFIX}{run}_{n}"))
        measuring_s = time.perf_counter() - started
    finally:
        worker.terminate()
        worker.wait(30)
        dropped = _drop_bench_accounts(target)

    figures = {name: _figures(values) for name, values in samples.items()}
    ratio = figures["manual"]["p95_ms"] / figures["noop"]["p95_ms"]
    met = ratio <= TARGET_RATIO
    results = {
        "date": datetime.datetime.now(UTC).isoformat(timespec="seconds"),
        "python": platform.python_version(),
        "services": args.services,
        "placing_orders_s": round(placing_s, 1),
        "measuring_s": round(measuring_s, 1),
        "figures_ms": figures,
        "manual_p95_to_noop_p95": round(ratio, 2),
        "target_ratio": TARGET_RATIO,
        "postgresql_roles_dropped": dropped,
        "left_over_roles_dropped_first": left_over,
    }
    print(f"{args.services} services each; solo worker on Redis; {dropped} PostgreSQL roles and databases dropped")
    print("| measure | p50 ms | p95 ms | p95 ratio to no-op | target |")
    print("|---|---:|---:|---:|---:|")
    rows = [
        ("no-op task round trip (bench.noop)", "noop", ""),
        ("payment confirmed → Active, Manual module", "manual", f"≤ {TARGET_RATIO:.0f}x, {'met' if met else 'MISSED'}"),
        ("payment confirmed → Active, PostgreSQL module", "postgresql", ""),
    ]
    for label, name, target_text in rows:
        f = figures[name]
        print(
            f"| {label} | {f['p50_ms']:.1f} | {f['p95_ms']:.1f} | {f['p95_ms'] / figures['noop']['p95_ms']:.2f}x "
            f"| {target_text} |"
        )
    out = ROOT / "bench" / "results"
    out.mkdir(exist_ok=True)
    (out / "provisioning.json").write_text(json.dumps(results, indent=2) + "\n")
    sys.exit(0 if met else 1)


if __name__ == "__main__":
    main()
