#!/usr/bin/env python
"""Benchmark of the walking skeleton: checkout, order accept and the admin order list.

    BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/portal_bench .venv/bin/python bench/run.py --orders 2000

The admin's order and service lists at 1,000,000 rows, against the same pages at 2,000 (bench/admin_lists.py):

    BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/portal_bench_lists .venv/bin/python bench/run.py \
        --admin-lists [--rows 1000000 ...]

Without BENCH_DATABASE_URL it uses a throw-away SQLite file. The bench database is emptied first: never point
it at a database you care about. Tasks run in-process, so the figures are our code and the database, not a
broker. Prints a Markdown table for docs/PERFORMANCE.md and writes bench/results/latest.json.
"""

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from common import percentile, print_targets, setup_django  # noqa: E402

# Targets chosen for this capability (issue 2 names none): an interactive checkout and admin list must feel instant.
TARGETS_MS = {"checkout p95": 50.0, "accept p95": 50.0, "admin order list p95": 150.0}


def main() -> None:
    if "--admin-lists" in sys.argv[1:]:
        from admin_lists import main as admin_lists

        sys.exit(admin_lists([arg for arg in sys.argv[1:] if arg != "--admin-lists"]))
    parser = argparse.ArgumentParser()
    parser.add_argument("--orders", type=int, default=2000)
    parser.add_argument("--list-requests", type=int, default=50)
    args = parser.parse_args()
    database_url = os.environ.get("BENCH_DATABASE_URL") or f"sqlite:///{tempfile.mkdtemp()}/bench.sqlite3"
    setup_django(database_url)

    from decimal import Decimal

    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.test import Client as HttpClient

    from billing.models import Currency
    from billing.services import client_create
    from orders.models import Product, ProductGroup, ProductPricing
    from orders.services import CartItem, order_accept, order_place

    usd = Currency.objects.create(code="USD", prefix="$", is_default=True)
    group = ProductGroup.objects.create(name="Hosting")
    hosting = Product.objects.create(group=group, name="Starter", requires_domain=True)
    domain = Product.objects.create(group=group, name=".com", type=Product.Type.DOMAIN)
    ProductPricing.objects.create(
        product=hosting, currency=usd, billing_cycle="monthly", price=Decimal("4.99"), setup_fee=Decimal("1.00")
    )
    ProductPricing.objects.create(product=domain, currency=usd, billing_cycle="annually", price=Decimal("12.99"))
    clients = [
        client_create(contact_name=f"Bench {n}", email=f"bench{n}@example.com", country="DE", currency=usd, actor=None)
        for n in range(50)
    ]

    checkout_ms, orders = [], []
    for n in range(args.orders):
        started = time.perf_counter()
        orders.append(
            order_place(
                client=clients[n % len(clients)],
                actor=None,
                ip_address="203.0.113.5",
                items=[
                    CartItem(product_id=hosting.pk, billing_cycle="monthly", domain=f"site{n}.example.com"),
                    CartItem(product_id=domain.pk, billing_cycle="annually", domain=f"bench-{n}.com"),
                ],
            )
        )
        checkout_ms.append((time.perf_counter() - started) * 1000)

    accept_ms = []
    for order in orders[: args.orders // 2]:
        started = time.perf_counter()
        order_accept(order=order, actor=None)
        accept_ms.append((time.perf_counter() - started) * 1000)

    admin = get_user_model().objects.create_superuser("bench-admin", "admin@example.com", "x")
    http = HttpClient()
    http.force_login(admin)
    list_ms = []
    queries = []
    with connection.execute_wrapper(lambda execute, sql, *rest: queries.append(sql) or execute(sql, *rest)):
        http.get("/admin/orders/order/")
    for _ in range(args.list_requests):
        started = time.perf_counter()
        response = http.get("/admin/orders/order/", {"status__exact": "pending"})
        list_ms.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200

    figures = {
        "checkout p50": statistics.median(checkout_ms),
        "checkout p95": percentile(checkout_ms, 95),
        "accept p50": statistics.median(accept_ms),
        "accept p95": percentile(accept_ms, 95),
        "admin order list p50": statistics.median(list_ms),
        "admin order list p95": percentile(list_ms, 95),
    }
    machine = f"{platform.node()} · {os.cpu_count()} cores · Python {platform.python_version()} · {connection.vendor}"
    result = {"machine": machine, "orders": args.orders, "admin_list_queries": len(queries), "figures_ms": figures}
    out = ROOT / "bench" / "results"
    out.mkdir(exist_ok=True)
    (out / "latest.json").write_text(json.dumps(result, indent=2))

    print(f"{machine}; {args.orders} orders of 2 items; admin list: {len(queries)} queries for 100 rows")
    sys.exit(0 if print_targets(figures, TARGETS_MS) else 1)


if __name__ == "__main__":
    main()
