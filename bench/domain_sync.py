#!/usr/bin/env python
"""Benchmark of the daily domain sync against the TLS EPP test server (issue 18, item 9).

    BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/portal_bench_domains \
    BENCH_REDIS_URL=redis://127.0.0.1:6379/12 .venv/bin/python bench/domain_sync.py [--domains 100000]

PostgreSQL and Redis; the bench database is emptied and the Redis database's bench queue purged: never point them
at ones you care about.

The test EPP server (tests/epp_server.py: real TLS, RFC 5734 frames, an in-memory registry) runs in this process
on a free loopback port, holding `--domains` domains sponsored by registrar-a, each with one Active domain row
at the EPP registrar in the portal (its RegistrarConfig pointing at the server, the password encrypted).

- **Floor:** the raw EPP round trip on one logged-in connection: `domain:info` of the same domains, one after the
  other, as domains per second (what the registry answers at most on one session).
- **Measured:** the automation run's `domain_sync` step for the day (its calls asked in batches of 1,000, their
  tasks sent through Redis in batches of 100), run by a real Celery worker (solo pool, its own process, one kept
  EPP session), until every call is recorded: domains per second, from the step's start to the last call's end.

Prints a Markdown table for docs/PERFORMANCE.md and writes bench/results/domain_sync.json.
"""

import argparse
import datetime
import json
import os
import platform
import sys
import tempfile
import time
from datetime import UTC
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from common import celery_worker, setup_django  # noqa: E402

QUEUE = "domains-bench"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--domains", type=int, default=100_000)
    parser.add_argument("--floor-sample", type=int, default=2_000, help="domains timed for the raw EPP floor")
    args = parser.parse_args()
    database_url = os.environ.get("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/portal_bench_domains")
    redis_url = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/12")
    setup_django(database_url, production_like=True, env={"REDIS_URL": redis_url, "PROVISIONING_QUEUE": QUEUE})

    from django.db.models import Count

    from automation.scheduler import automation_run
    from billing.models import Client, Currency
    from config.celery import app as celery_app
    from core.rows import insert_rows
    from provisioning.models import Domain, ModuleCall
    from provisioning.registrars.epp.session import EppSession
    from provisioning.services.tlds import registrar_config_save
    from tests.epp_server import EppServer, make_certificates

    celery_app.conf.task_always_eager = False
    certificates = make_certificates(Path(tempfile.mkdtemp(prefix="bench-epp-")))
    server = EppServer(certificates).start()
    server.max_sessions = 16
    try:
        names = [f"bench{n}.test" for n in range(args.domains)]
        started = time.perf_counter()
        with server.lock:
            for name in names:
                server.registry.add_domain(name, sponsor="registrar-a")
        registrar_config_save(
            config_id=None,
            name="epp",
            settings={
                "host": server.host,
                "port": server.port,
                "username": "registrar-a",
                "password": server.accounts["registrar-a"],
                "ca_file": str(certificates.ca_file),
                "timeout": 20,
            },
            is_active=True,
            actor=None,
        )
        usd = Currency.objects.create(code="USD", prefix="$", is_default=True)
        client = Client.objects.create(contact_name="Bench", email="bench@example.com", country="DE", currency=usd)
        today = datetime.date.today()
        expiry = {name: server.registry.domains[name].expires_at.date() for name in names}
        insert_rows(
            Domain,
            [
                {
                    "client_id": client.pk,
                    "name": name,
                    "registration_type": "register",
                    "registration_period": 1,
                    "registrar": "epp",
                    "currency_id": usd.pk,
                    "recurring_amount": Decimal("10.00"),
                    "first_payment_amount": Decimal("10.00"),
                    "registration_date": today,
                    "expiry_date": expiry[name],
                    "next_due_date": expiry[name],
                    "status": "active",
                }
                for name in names
            ],
        )
        seeding_s = time.perf_counter() - started

        # The floor: domain:info on one logged-in session, one after the other.
        sample = names[: args.floor_sample]
        with EppSession(
            host=server.host,
            port=server.port,
            username="registrar-a",
            password=server.accounts["registrar-a"],
            ca_file=certificates.ca_file,
        ) as session:
            for name in sample[:50]:  # warm-up
                session.domain_info(name)
            floor_started = time.perf_counter()
            for name in sample:
                session.domain_info(name)
            floor_s = time.perf_counter() - floor_started
        floor_rate = len(sample) / floor_s

        worker = celery_worker(database_url, redis_url, queue=QUEUE, node_prefix="bench-domains")
        try:
            sync_started = time.perf_counter()
            outcome = automation_run(today=today, only=["domain_sync"], trigger="bench")
            asked_s = time.perf_counter() - sync_started
            assert outcome.ok, [step.errors for step in outcome.steps]
            open_calls = ModuleCall.objects.filter(domain__isnull=False, status__in=["queued", "running"])
            deadline = time.monotonic() + 4 * 3600
            while open_calls.exists():
                assert time.monotonic() < deadline, "the sync did not finish in 4 hours"
                time.sleep(0.5)
            sync_s = time.perf_counter() - sync_started
        finally:
            worker.terminate()
            worker.wait(30)
        outcomes = dict(
            ModuleCall.objects.filter(domain__isnull=False).values_list("status").annotate(n=Count("id")).order_by()
        )
        infos = server.count("domain:info")
    finally:
        server.stop()

    rate = args.domains / sync_s
    results = {
        "date": datetime.datetime.now(UTC).isoformat(timespec="seconds"),
        "python": platform.python_version(),
        "domains": args.domains,
        "seeding_s": round(seeding_s, 1),
        "asking_s": round(asked_s, 1),
        "sync_s": round(sync_s, 1),
        "sync_domains_per_s": round(rate, 1),
        "floor_sample": len(sample),
        "floor_domains_per_s": round(floor_rate, 1),
        "ratio_floor_to_sync": round(floor_rate / rate, 2),
        "calls_by_status": outcomes,
        "epp_infos_answered": infos,
    }
    print(f"{args.domains} domains at the EPP test server; solo worker on Redis; calls: {outcomes}")
    print("| measure | domains per second | seconds |")
    print("|---|---:|---:|")
    print(f"| raw EPP `domain:info`, one session ({len(sample)} domains) | {floor_rate:,.1f} | {floor_s:,.1f} |")
    print(f"| daily `domain_sync` through the module queue | {rate:,.1f} | {sync_s:,.1f} |")
    print(f"The step asked its calls in {asked_s:.1f} s; the floor is {floor_rate / rate:.1f}x the sync's rate.")
    out = ROOT / "bench" / "results" / "domain_sync.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
