#!/usr/bin/env python
"""Benchmark of the admin's order and service lists at 2,000 and at 1,000,000 rows (issue 14, item 8).

    BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/portal_bench_lists .venv/bin/python bench/admin_lists.py
    ... --rows 100000     quick run
    (also: bench/run.py --admin-lists, with the same options after it)

PostgreSQL only. The bench database is emptied first: never point it at a database you care about.

Method: 1,000 clients, then orders and services (one service per order) written with INSERT ... SELECT
generate_series, up to 2,000 of each; VACUUM ANALYZE; each page measured. Then the same tables are filled up to
--rows (1,000,000) the same way, analyzed again and measured again. The floor is the same page at 2,000 rows,
measured in the same run: the target is that a page at 1M rows costs at most 1.5 times its floor (p95), i.e.
that it does not grow with the table. Pages: the order list and the service list, each unfiltered and filtered
by a status, requested in turn (shuffled) through Django's test client as a logged-in superuser, DEBUG off.
Prints a Markdown table and writes bench/results/admin_lists.json.
"""

import argparse
import json
import os
import platform
import random
import statistics
import sys
import time
import warnings
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from common import percentile, setup_django  # noqa: E402

TARGET_P95_RATIO = 1.5
FLOOR_ROWS = 2_000
CLIENTS = 1_000
PAGES = {
    "orders": ("/admin/orders/order/", {}),
    "orders, pending": ("/admin/orders/order/", {"status__exact": "pending"}),
    "services": ("/admin/provisioning/service/", {}),
    "services, suspended": ("/admin/provisioning/service/", {"status__exact": "suspended"}),
}


def _seed() -> dict:
    import importlib

    from django.apps import apps
    from django.db import connection

    from billing.models import Currency
    from orders.models import Product, ProductGroup

    importlib.import_module("billing.migrations.0003_seed_gateways_and_settings").seed(apps, None)
    currency = Currency.objects.create(code="USD", prefix="$", is_default=True)
    product = Product.objects.create(group=ProductGroup.objects.create(name="Hosting"), name="Starter")
    with connection.cursor() as cursor:
        cursor.execute(
            """
            INSERT INTO auth_user (id, password, is_superuser, username, first_name, last_name, email, is_staff,
                                   is_active, date_joined)
            SELECT n, '!', false, 'bench-client-' || n, '', '', 'client' || n || '@example.com', false, true, now()
            FROM generate_series(1, %(clients)s) AS n
            """,
            {"clients": CLIENTS},
        )
        cursor.execute(
            """
            INSERT INTO billing_client (id, user_id, company_name, contact_name, email, address_1, address_2, city,
                                        state, postcode, country, phone, currency_id, credit_balance, tax_exempt,
                                        status, notes, created_at)
            SELECT n, n, '', 'Client ' || n, 'client' || n || '@example.com', '', '', 'Berlin', '', '10115', 'DE',
                   '', %(currency)s, 0, false, 'active', '', now()
            FROM generate_series(1, %(clients)s) AS n
            """,
            {"clients": CLIENTS, "currency": currency.pk},
        )
        for table in ("auth_user", "billing_client"):
            cursor.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))")
    return {"currency": currency.pk, "product": product.pk}


def _fill_to(rows: int, seed: dict) -> float:
    """Orders and their services up to `rows` of each, in two INSERT ... SELECT statements; seconds taken."""
    from django.db import connection, transaction

    started = time.perf_counter()
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT coalesce(max(id), 0) FROM orders_order")
        first = cursor.fetchone()[0] + 1
        params = {"first": first, "last": rows, "clients": CLIENTS, **seed}
        cursor.execute(
            """
            INSERT INTO orders_order (id, number, client_id, currency_id, status, ip_address, promo_code, total,
                                      fraud_score, fraud_result, notes, created_at)
            SELECT n, 'ORD-' || n, n %% %(clients)s + 1, %(currency)s,
                   CASE WHEN n %% 10 < 7 THEN 'active' WHEN n %% 10 < 9 THEN 'pending' ELSE 'cancelled' END,
                   ('203.0.113.' || (n %% 250))::inet, '', 4.99, 0, '{}', '',
                   now() - (%(last)s - n) * interval '1 minute'
            FROM generate_series(%(first)s, %(last)s) AS n
            """,
            params,
        )
        cursor.execute(
            """
            INSERT INTO provisioning_service (id, client_id, order_id, product_id, currency_id, billing_cycle,
                                              recurring_amount, first_payment_amount, module, module_settings,
                                              auto_setup, domain, username, registration_date, billing_day,
                                              next_due_date, suspension_reason, status, created_at)
            SELECT n, n %% %(clients)s + 1, n, %(product)s, %(currency)s, 'monthly', 4.99, 4.99, '', '{}',
                   'accept', 'site' || n || '.example.com', 'u' || n, current_date - 40,
                   extract(day FROM current_date - 40), current_date + (n %% 28),
                   CASE WHEN n %% 10 = 8 THEN 'overdue' ELSE '' END,
                   CASE WHEN n %% 10 < 7 THEN 'active' WHEN n %% 10 = 8 THEN 'suspended' ELSE 'pending' END,
                   now() - (%(last)s - n) * interval '1 minute'
            FROM generate_series(%(first)s, %(last)s) AS n
            """,
            params,
        )
        for table in ("orders_order", "provisioning_service"):
            cursor.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))")
    with connection.cursor() as cursor:  # outside the transaction: VACUUM cannot run in one
        cursor.execute("VACUUM (ANALYZE) orders_order, provisioning_service")
    return round(time.perf_counter() - started, 1)


def _measure(browser, requests: int, warmup: int, rng: random.Random) -> tuple[dict, dict]:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    queries = {}
    for name, (url, params) in PAGES.items():
        with CaptureQueriesContext(connection) as captured:
            response = browser.get(url, params)
        assert response.status_code == 200, (name, response.status_code)
        queries[name] = len(captured)
    samples = {name: [] for name in PAGES}
    for turn in range(warmup + requests):
        order = list(PAGES)
        rng.shuffle(order)
        for name in order:
            url, params = PAGES[name]
            started = time.perf_counter()
            response = browser.get(url, params)
            elapsed = (time.perf_counter() - started) * 1000
            assert response.status_code == 200, (name, response.status_code)
            if turn >= warmup:
                samples[name].append(elapsed)
    figures = {
        name: {"p50": round(statistics.median(values), 2), "p95": round(percentile(values, 95), 2)}
        for name, values in samples.items()
    }
    return figures, queries


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="orders and services at the end; quick: 100000")
    parser.add_argument("--requests", type=int, default=200, help="of each page, at each size")
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--seed", type=int, default=3)
    args = parser.parse_args(argv)
    database_url = os.environ.get("BENCH_DATABASE_URL", "")
    if not database_url.startswith("postgres"):
        raise SystemExit("Set BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/portal_bench_lists (PostgreSQL)")
    warnings.filterwarnings("ignore", message="No directory at")  # whitenoise: no collectstatic here
    setup_django(database_url, production_like=True)

    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.test import Client as HttpClient

    seed = _seed()
    admin = get_user_model().objects.create_superuser("bench-admin", "admin@example.com", "x")
    browser = HttpClient()
    browser.force_login(admin)
    rng = random.Random(args.seed)

    fill_s = {FLOOR_ROWS: _fill_to(FLOOR_ROWS, seed)}
    floor, floor_queries = _measure(browser, args.requests, args.warmup, rng)
    fill_s[args.rows] = _fill_to(args.rows, seed)
    print(f"filled to {args.rows:,} orders and services in {fill_s[args.rows]} s", flush=True)
    big, big_queries = _measure(browser, args.requests, args.warmup, rng)

    ratios = {name: round(big[name]["p95"] / floor[name]["p95"], 2) for name in PAGES}
    machine = f"{platform.node()} · {os.cpu_count()} cores · Python {platform.python_version()} · {connection.vendor}"
    result = {
        "machine": machine,
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "rows": args.rows,
        "floor_rows": FLOOR_ROWS,
        "fill_seconds": fill_s,
        "requests_per_page": args.requests,
        "queries": {"floor": floor_queries, "big": big_queries},
        "figures_ms": {"floor": floor, "big": big},
        "p95_ratios": ratios,
        "target": f"p95 at {args.rows} rows / p95 at {FLOOR_ROWS} rows <= {TARGET_P95_RATIO:g}",
    }
    out = ROOT / "bench" / "results"
    out.mkdir(exist_ok=True)
    (out / "admin_lists.json").write_text(json.dumps(result, indent=2))

    print(f"{machine}; {args.requests} requests of each page at each size")
    print(f"| page | queries | p50 ms at {FLOOR_ROWS:,} | p95 | p50 ms at {args.rows:,} | p95 | p95 ratio |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    failed = False
    for name in PAGES:
        missed = ratios[name] > TARGET_P95_RATIO
        failed |= missed
        few, many = floor_queries[name], big_queries[name]
        queries = f"{few}" if few == many else f"{few} / {many}"
        print(
            f"| {name} | {queries} | {floor[name]['p50']:.1f} | {floor[name]['p95']:.1f} | {big[name]['p50']:.1f} "
            f"| {big[name]['p95']:.1f} | {ratios[name]:.2f}{' MISSED' if missed else ''} |"
        )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
