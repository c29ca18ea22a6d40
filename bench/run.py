#!/usr/bin/env python
"""Benchmark of the walking skeleton: checkout, order accept and the admin order list.

    BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/portal_bench .venv/bin/python bench/run.py --orders 2000

The admin's order and service lists at 1,000,000 rows, against the same pages at 2,000 (bench/admin_lists.py):

    BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/portal_bench_lists .venv/bin/python bench/run.py \
        --admin-lists [--rows 1000000 ...]

Without BENCH_DATABASE_URL it uses a throw-away SQLite file. The bench database is emptied first: never point
it at a database you care about. Tasks run in-process, so the figures are our code and the database, not a
broker. Floor, same run: a bare view behind login_required (one indexed query on the orders, no template)
requested as often as the admin list, through the same test client and session; the targets are ratios to its
p95. Prints a Markdown table for docs/PERFORMANCE.md and writes bench/results/latest.json.
"""

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from common import bench_urlconf, percentile, print_ratio_targets, setup_django, timed_ms  # noqa: E402

# Our targets (issue 2 names none), checkout and accept p95 <= 50 ms and the admin order list p95 <= 150 ms, as
# ratios to the floor measured in the same run (issue 15: this machine is too noisy for absolute times). Each
# ratio is the old target over the floor's p95 as measured on 2026-12-06 (FLOOR_P95_MS), so it is the same bar
# at today's speed; docs/PERFORMANCE.md says so, and the owner decides whether to keep it.
FLOOR_P95_MS = 8.1
FLOOR = "bare view p95"
# 50 / 8.1 and 150 / 8.1
TARGETS = {"checkout p95": (FLOOR, 6.2), "accept p95": (FLOOR, 6.2), "admin order list p95": (FLOOR, 18.5)}


def bare_order_numbers(request):
    """One indexed query and no template: the latest pending orders' numbers, as text."""
    from django.http import HttpResponse

    from orders.models import Order

    numbers = Order.objects.filter(status="pending").order_by("-id").values_list("number", flat=True)[:100]
    return HttpResponse("\n".join(str(number) for number in numbers), content_type="text/plain")


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

    orders = []
    numbers = iter(range(args.orders))

    def checkout():
        n = next(numbers)
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

    checkout_ms = timed_ms(checkout, args.orders)
    accepting = iter(orders[: args.orders // 2])
    accept_ms = timed_ms(lambda: order_accept(order=next(accepting), actor=None), args.orders // 2)

    admin = get_user_model().objects.create_superuser("bench-admin", "admin@example.com", "x")
    http = HttpClient()
    http.force_login(admin)
    queries = []
    with connection.execute_wrapper(lambda execute, sql, *rest: queries.append(sql) or execute(sql, *rest)):
        http.get("/admin/orders/order/")

    def admin_list():
        assert http.get("/admin/orders/order/", {"status__exact": "pending"}).status_code == 200

    list_ms = timed_ms(admin_list, args.list_requests)
    from django.contrib.auth.decorators import login_required
    from django.test import override_settings
    from django.urls import path

    bare = [path("bench/bare/", login_required(bare_order_numbers))]
    with override_settings(ROOT_URLCONF=bench_urlconf("bench_run_urls", bare)):
        assert http.get("/bench/bare/").status_code == 200
        floor_ms = timed_ms(lambda: http.get("/bench/bare/"), args.list_requests)

    figures = {
        "checkout p50": statistics.median(checkout_ms),
        "checkout p95": percentile(checkout_ms, 95),
        "accept p50": statistics.median(accept_ms),
        "accept p95": percentile(accept_ms, 95),
        "admin order list p50": statistics.median(list_ms),
        "admin order list p95": percentile(list_ms, 95),
        "bare view p50": statistics.median(floor_ms),
        FLOOR: percentile(floor_ms, 95),
    }
    machine = f"{platform.node()} · {os.cpu_count()} cores · Python {platform.python_version()} · {connection.vendor}"
    result = {"machine": machine, "orders": args.orders, "admin_list_queries": len(queries), "figures_ms": figures}
    out = ROOT / "bench" / "results"
    out.mkdir(exist_ok=True)
    (out / "latest.json").write_text(json.dumps(result, indent=2))

    print(f"{machine}; {args.orders} orders of 2 items; admin list: {len(queries)} queries for 100 rows")
    sys.exit(0 if print_ratio_targets(figures, TARGETS) else 1)


if __name__ == "__main__":
    main()
