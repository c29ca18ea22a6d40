#!/usr/bin/env python
"""Benchmark of the automation run at scale (issue 4, requirement 5).

    BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/portal_bench_auto .venv/bin/python bench/automation.py
    ... --services 100000        quick run (10,000 clients)

PostgreSQL only; the bench database is emptied first: never point it at a database you care about.

Data: services/10 clients with 10 active monthly services each, every one due within the lead days; a
client's services fall on three due dates, so combined invoicing makes three invoices per client. Generated
with set-based SQL.

Measured, in one process with tasks in-process (events are dispatched after each batch commits, as `make run`
does):
1. renewal invoicing: the `renewal_invoicing` step over all the services (it writes the invoices, their lines,
   an activity row and an InvoiceCreated event per invoice);
2. the COPY floor: the time PostgreSQL's COPY takes to write the same rows (invoices, lines, activity rows and
   events, copied out of the tables the step filled) into empty tables with the same columns, constraints and
   indexes, in the same run;
3. the overdue steps: OVERDUE invoices of those (100,000 by default) are moved 30 days past due, late fees and
   suspension are switched on, and the `payment_reminders`, `late_fees` and `overdue_suspension` steps run
   (the whole database analyzed first, as autovacuum would have done in the month between); then the COPY floor
   of the rows they added (reminders, fees, fee lines, emails, activity rows, events), as for renewal. The
   steps' updates (services, invoice totals) are not in that floor: COPY cannot update.

   With --daily the invoices are 7 days late instead, their earlier levels queued on earlier days: an invoice's
   busiest day in a run that never misses one (its reminder, its late fee and its services' suspension).

On PostgreSQL each step runs its batches in AUTOMATION_WORKERS threads (default 2).

With --endpoints N, N webhook endpoints subscribed to every event exist before the run, so each event the steps
emit also writes N delivery rows (the outbox, in the same transaction); the COPY floors then include those rows.
Deliveries are a worker's job, not the run's: with --broker redis://... the run's tasks are published to that
Redis (nobody consumes them; the bench empties that database at the end) instead of running in-process. Issue 16's
check runs both with the same broker: the ratio with 3 endpoints at most 1.1x the ratio with none.

Targets, as ratios to a floor measured in the same run (this machine is too noisy for absolute times): renewal
invoicing at most 5x the COPY floor of the rows it writes; the overdue steps at most 3x the COPY floor of the rows
they add. Prints a Markdown table for docs/PERFORMANCE.md and writes bench/results/automation.json.
"""

import argparse
import datetime
import json
import os
import platform
import sys
import time
from datetime import UTC
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from common import copy_floor, setup_django  # noqa: E402

# Each step's time over the COPY floor of the rows it writes, measured in the same run.
TARGET_RATIOS = {"renewal invoicing": 5.0, "overdue steps": 3.0}
TODAY = datetime.date(2027, 3, 1)
# The tables the renewal step writes, and what their COPY copies are called.
WRITTEN_TABLES = ("billing_invoice", "billing_invoiceitem", "notifications_activitylog", "notifications_event")
WEBHOOK_TABLES = ("notifications_webhookdelivery",)  # written too when endpoints are subscribed
OVERDUE_STEPS = ("payment_reminders", "late_fees", "overdue_suspension")
# The tables the overdue steps add rows to (they also update services and invoices, which COPY cannot do).
OVERDUE_WRITTEN_TABLES = (
    "billing_invoicereminder",
    "billing_latefee",
    "billing_invoiceitem",
    "notifications_outboundemail",
    "notifications_activitylog",
    "notifications_event",
)


def _generate(services: int) -> float:
    from django.db import connection

    from billing.models import Currency
    from orders.models import Product, ProductGroup

    clients = services // 10
    currency = Currency.objects.create(code="USD", prefix="$", is_default=True)
    group = ProductGroup.objects.create(name="Hosting")
    product = Product.objects.create(group=group, name="Starter", taxable=True)
    started = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute(
            """
            INSERT INTO billing_client (id, user_id, company_name, contact_name, email, address_1, address_2, city,
                                        state, postcode, country, phone, currency_id, credit_balance, tax_exempt,
                                        status, notes, created_at)
            SELECT n, NULL, '', 'Client ' || n, 'client' || n || '@example.com', '', '', 'Berlin', '', '10115',
                   (ARRAY['DE', 'FR', 'US'])[n %% 3 + 1], '', %(currency)s, 0, false, 'active', '', now()
            FROM generate_series(1, %(clients)s) AS n
            """,
            {"clients": clients, "currency": currency.pk},
        )
        cursor.execute(
            """
            INSERT INTO provisioning_service (client_id, order_id, product_id, server_id, currency_id, billing_cycle,
                                              recurring_amount, first_payment_amount, module, module_settings,
                                              auto_setup, domain, username, registration_date, next_due_date,
                                              termination_date, suspension_reason, status, created_at)
            SELECT c, NULL, %(product)s, NULL, %(currency)s, 'monthly', (ARRAY[4.99, 9.99, 19.99])[k %% 3 + 1], 0,
                   '', '{}', 'never', 'site' || c || '-' || k || '.example.com', '', %(today)s::date - 300,
                   %(today)s::date + ((c + (k %% 3) * 4) %% 14), NULL, '', 'active', now()
            FROM generate_series(1, %(clients)s) AS c CROSS JOIN generate_series(0, 9) AS k
            """,
            {"clients": clients, "currency": currency.pk, "product": product.pk, "today": TODAY},
        )
        cursor.execute("SELECT setval(pg_get_serial_sequence('billing_client', 'id'), %s)", [clients])
        cursor.execute("VACUUM ANALYZE billing_client")
        cursor.execute("VACUUM ANALYZE provisioning_service")
    return time.perf_counter() - started


def _last_ids(tables) -> dict[str, int]:
    from django.db import connection

    with connection.cursor() as cursor:
        last = {}
        for table in tables:
            cursor.execute(f"SELECT coalesce(max(id), 0) FROM {table}")
            last[table] = cursor.fetchone()[0]
    return last


def _endpoints(count: int) -> None:
    """`count` webhook endpoints subscribed to every event (the bench's receivers never answer: with --broker
    nothing delivers, and in-process the deliveries would be the run's cost, which they are not in production)."""
    from django.conf import settings

    from notifications.webhooks.services import endpoint_create

    settings.WEBHOOKS_ALLOW_PRIVATE_DESTINATIONS = True
    for n in range(count):
        endpoint_create(url=f"http://127.0.0.1:9/bench-{n}", all_events=True, actor=None, reason="bench: fan-out")


def _overdue(count: int, *, daily: bool = False, tables=OVERDUE_WRITTEN_TABLES) -> dict:
    """The overdue steps over `count` invoices. By default they are 30 days late, a catch-up: every reminder
    level is reached at once (one queued, four recorded as skipped). With `daily`, they are 7 days late and their
    earlier levels were queued on earlier days: what a day-by-day run meets on an invoice's busiest day (its 7-day
    reminder, its late fee and its services' suspension, all due that day)."""
    from django.db import connection

    from automation.models import AutomationSettings
    from automation.registry import registered_steps
    from automation.scheduler import automation_run

    missing = [name for name in OVERDUE_STEPS if name not in {step.name for step in registered_steps()}]
    if missing:
        return {"skipped": f"steps not built yet: {', '.join(missing)}"}
    with connection.cursor() as cursor:
        # Exactly `count` invoices overdue (30 days: every reminder level, a late fee and suspension are due);
        # the others move two months ahead, where no step has anything to do with them yet.
        cursor.execute(
            "UPDATE billing_invoice SET due_date = CASE WHEN id IN "
            "(SELECT id FROM billing_invoice ORDER BY id LIMIT %s) THEN %s ELSE %s END",
            [count, TODAY - datetime.timedelta(days=7 if daily else 30), TODAY + datetime.timedelta(days=60)],
        )
        if daily:
            # The levels before 7 days overdue, queued on their own days.
            cursor.execute(
                "INSERT INTO billing_invoicereminder (invoice_id, level_days, template, sent_on, skipped) "
                "SELECT i.id, l.days, l.template, i.due_date + l.days, false FROM billing_invoice i "
                "CROSS JOIN (VALUES (-7, 'invoice_reminder_upcoming'), (0, 'invoice_reminder_due'), "
                "(1, 'invoice_overdue_first')) AS l(days, template) WHERE i.due_date = %s",
                [TODAY - datetime.timedelta(days=7)],
            )
        # The invoices were made a month before: by then autovacuum has analyzed every table the renewal step
        # grew. Without it the planner still thinks the lines table is nearly empty and reads it whole.
        cursor.execute("VACUUM ANALYZE")
    AutomationSettings.objects.filter(pk=AutomationSettings.load().pk).update(
        late_fee_enabled=True, late_fee_amount="5.00", late_fee_after_days=7, suspend_enabled=True, suspend_after_days=7
    )
    figures = {}
    before = _last_ids(tables)
    for name in OVERDUE_STEPS:
        started = time.perf_counter()
        outcome = automation_run(today=TODAY, only=[name], trigger="bench")
        figures[name] = {"seconds": round(time.perf_counter() - started, 2), "counts": outcome.steps[0].counts}
        assert outcome.ok, outcome.steps[0].errors
    figures["total_seconds"] = round(sum(f["seconds"] for f in figures.values()), 2)
    copy_seconds, copy_rows = copy_floor(before)
    figures["copy_floor_seconds"], figures["copy_rows"] = round(copy_seconds, 2), copy_rows
    figures["over_copy"] = round(figures["total_seconds"] / copy_seconds, 2)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--services", type=int, default=1_000_000, help="a multiple of 10; quick: 100000")
    parser.add_argument("--overdue", type=int, default=100_000, help="invoices made overdue for the overdue steps")
    parser.add_argument(
        "--daily", action="store_true", help="overdue invoices 7 days late with earlier levels queued (not a catch-up)"
    )
    parser.add_argument("--endpoints", type=int, default=0, help="webhook endpoints subscribed to every event")
    parser.add_argument("--broker", default="", help="a Redis URL the run's tasks are published to (not consumed)")
    args = parser.parse_args()
    database_url = os.environ.get("BENCH_DATABASE_URL", "")
    if not database_url.startswith("postgres"):
        raise SystemExit("Set BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/portal_bench_auto (PostgreSQL)")
    setup_django(
        database_url, flush=True, production_like=True, env={"REDIS_URL": args.broker} if args.broker else None
    )
    if args.broker:
        import redis

        from config.celery import app

        app.conf.task_always_eager = False  # the bench settings run tasks in-process; here they are published
        redis.Redis.from_url(args.broker).flushdb()
    written = WRITTEN_TABLES + (WEBHOOK_TABLES if args.endpoints else ())
    _endpoints(args.endpoints)

    from django.db import connection

    from automation.scheduler import automation_run
    from billing.models import Invoice, InvoiceItem

    generated = _generate(args.services)
    print(f"generated {args.services:,} services in {generated:.1f} s", flush=True)

    started = time.perf_counter()
    outcome = automation_run(today=TODAY, only=["renewal_invoicing"], trigger="bench")
    renewal = time.perf_counter() - started
    step = outcome.steps[0]
    assert outcome.ok, step.errors
    invoices, lines = Invoice.objects.count(), InvoiceItem.objects.count()
    assert lines == args.services, (lines, args.services)
    copy_seconds, copy_rows = copy_floor(dict.fromkeys(written, 0))
    overdue = _overdue(
        min(args.overdue, invoices),
        daily=args.daily,
        tables=OVERDUE_WRITTEN_TABLES + (WEBHOOK_TABLES if args.endpoints else ()),
    )
    if args.broker:
        import redis

        redis.Redis.from_url(args.broker).flushdb()

    from automation.pool import automation_workers

    machine = (
        f"{platform.node()} · {os.cpu_count()} cores · Python {platform.python_version()} · {connection.vendor} · "
        f"{automation_workers()} automation workers"
    )
    result = {
        "machine": machine,
        "measured_at": datetime.datetime.now(UTC).isoformat(timespec="seconds"),
        "services": args.services,
        "webhook_endpoints": args.endpoints,
        "broker": "redis (published, not consumed)" if args.broker else "none (tasks in-process)",
        "generation_seconds": round(generated, 1),
        "renewal_seconds": round(renewal, 2),
        "invoices": invoices,
        "lines": lines,
        "copy_floor_seconds": round(copy_seconds, 2),
        "copy_rows": copy_rows,
        "renewal_over_copy": round(renewal / copy_seconds, 2),
        "overdue_scenario": "daily (7 days late, earlier levels queued)" if args.daily else "catch-up (30 days late)",
        "overdue": overdue,
    }
    name = "automation-daily" if args.daily else "automation"
    name += f"-{args.endpoints}-endpoints" if args.endpoints else ""
    out = ROOT / "bench" / "results" / f"{name}.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(result, indent=2))

    print(
        f"{machine}; {args.services:,} services of {args.services // 10:,} clients; {args.endpoints} webhook "
        f"endpoint(s); {result['broker']}"
    )
    print("| measure | s | COPY floor s | ratio | target |")
    print("|---|---:|---:|---:|---:|")
    print(
        f"| renewal invoicing: {invoices:,} invoices, {lines:,} lines (COPY of the same {copy_rows:,} rows) | "
        f"{renewal:.1f} | {copy_seconds:.1f} | {_ratio_cells(renewal, copy_seconds, 'renewal invoicing')} |"
    )
    if "skipped" in overdue:
        print(f"| overdue steps | - | - | - | {overdue['skipped']} |")
    else:
        for name in OVERDUE_STEPS:
            print(f"| {name}: {overdue[name]['counts']} | {overdue[name]['seconds']:.1f} | | | |")
        print(
            f"| overdue steps over {min(args.overdue, invoices):,} invoices (COPY of the {overdue['copy_rows']:,} "
            f"rows they added, not their updates) | {overdue['total_seconds']:.1f} | "
            f"{overdue['copy_floor_seconds']:.1f} | "
            f"{_ratio_cells(overdue['total_seconds'], overdue['copy_floor_seconds'], 'overdue steps')} |"
        )


def _ratio_cells(seconds: float, floor: float, measure: str) -> str:
    target = TARGET_RATIOS[measure]
    ratio = seconds / floor
    return f"{ratio:.1f} | ≤ {target:.0f}{'' if ratio <= target else ' MISSED'}"


if __name__ == "__main__":
    main()
