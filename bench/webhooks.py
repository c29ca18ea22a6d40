#!/usr/bin/env python
"""Benchmark of outbound webhooks (issue 16, requirement 8).

    BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/portal_bench_webhooks \
    BENCH_REDIS_URL=redis://127.0.0.1:6379/13 .venv/bin/python bench/webhooks.py [--events 200000] [--deliveries 3000]

PostgreSQL only; the bench database is emptied first, and the Redis database's bench queue purged: never point them
at ones you care about.

(a) The outbox: `--events` InvoiceCreated events emitted with emit_many in batches of 2,000 (the automation run's
    batch size), one transaction each, with 3 endpoints subscribed: each event writes its row and 3 deliveries.
    Floor: COPY of the same rows (events and deliveries, copied out of the filled tables) into empty look-alikes
    with the same indexes and constraints, in the same run. Also measured: the same emits with no endpoint (the
    events alone), so the fan-out's own cost shows. Tasks are published to an in-memory broker and not run, so
    the figures are the writes.
(b) Deliveries per second: `--deliveries` events for one endpoint, emitted in batches of 500 and sent by a real
    Celery worker (a separate process, on the webhooks queue through Redis) to a local receiver (a separate process
    answering 200 at once), timed from the first commit until the last delivery is recorded. Floor: the same number
    of bare POSTs (signed bodies of the same size, a new connection each, as the sender makes) to the same receiver
    from one process. Run for a solo worker and for a worker of 4 threads.

Prints a Markdown table for docs/PERFORMANCE.md and writes bench/results/webhooks.json.
"""

import argparse
import datetime
import json
import os
import platform
import subprocess
import sys
import time
from datetime import UTC
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from common import copy_floor, setup_django  # noqa: E402

BATCH = 2_000
QUEUE = "webhooks-bench"
RECEIVER = """
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
class H(BaseHTTPRequestHandler):
    def log_message(self, *a): pass
    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.send_response(200); self.send_header("Content-Length", "2"); self.end_headers(); self.wfile.write(b"ok")
server = ThreadingHTTPServer(("127.0.0.1", 0), H)
print(server.server_address[1], flush=True)
server.serve_forever()
"""


def _emit_all(total: int) -> float:
    from django.db import transaction

    from notifications.bus import emit_many

    started = time.perf_counter()
    for start in range(0, total, BATCH):
        with transaction.atomic():
            emit_many("InvoiceCreated", [{"invoice_id": n, "client_id": n // 3} for n in range(start, start + BATCH)])
    return time.perf_counter() - started


def _empty() -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "TRUNCATE notifications_webhookattempt, notifications_webhookdelivery, notifications_event CASCADE"
        )
        cursor.execute("VACUUM ANALYZE notifications_event")


def outbox(total: int) -> dict:
    from django.db import connection

    from notifications.models import WebhookEndpoint
    from notifications.webhooks.services import endpoint_create

    _empty()
    without = _emit_all(total)
    _empty()
    for n in range(3):
        endpoint_create(url=f"http://127.0.0.1:9/hook{n}", all_events=True, actor=None, reason="bench")
    with_endpoints = _emit_all(total)
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM notifications_webhookdelivery")
        deliveries = cursor.fetchone()[0]
    floor, rows = copy_floor(dict.fromkeys(["notifications_event", "notifications_webhookdelivery"], 0))
    WebhookEndpoint.objects.all().delete()
    return {
        "events": total,
        "deliveries": deliveries,
        "emit_without_endpoints_s": round(without, 2),
        "emit_with_3_endpoints_s": round(with_endpoints, 2),
        "copy_floor_s": round(floor, 2),
        "copy_rows": rows,
        "events_per_s": round(total / with_endpoints),
        "ratio_to_copy_floor": round(with_endpoints / floor, 2),
        "fan_out_cost": round(with_endpoints / without, 2),
    }


def _bare_posts(port: int, count: int, body: bytes) -> float:
    import urllib3

    from notifications.webhooks.signing import secret_new, signature

    secret = secret_new()
    started = time.perf_counter()
    for n in range(count):
        timestamp = int(time.time())
        headers = {
            "Content-Type": "application/json",
            "webhook-id": f"msg_{n}",
            "webhook-timestamp": str(timestamp),
            "webhook-signature": signature(secret=secret, webhook_id=f"msg_{n}", timestamp=timestamp, body=body),
        }
        pool = urllib3.HTTPConnectionPool("127.0.0.1", port, retries=False, maxsize=1)
        response = pool.urlopen("POST", "/hook", body=body, headers=headers, preload_content=True)
        assert response.status == 200
        pool.close()
    return time.perf_counter() - started


def deliveries(count: int, redis_url: str, database_url: str, pool_args: list[str]) -> dict:
    from django.db import transaction

    from config.celery import app as celery_app
    from notifications.bus import emit_many
    from notifications.models import WebhookDelivery, WebhookEndpoint
    from notifications.webhooks.delivery import body_of
    from notifications.webhooks.services import endpoint_create

    _empty()
    receiver = subprocess.Popen([sys.executable, "-c", RECEIVER], stdout=subprocess.PIPE, text=True)
    port = int(receiver.stdout.readline())
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.base",
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "WEBHOOKS_QUEUE": QUEUE,
        "LOG_LEVEL": "WARNING",
        "DJANGO_DEBUG": "false",
        "WEBHOOKS_ALLOW_PRIVATE_DESTINATIONS": "true",
    }
    node = f"bench-webhooks-{os.getpid()}@localhost"
    with celery_app.connection_for_write() as broker:
        broker.default_channel.queue_purge(QUEUE)
    worker = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "config", "worker", *pool_args, "--loglevel=WARNING",
         "--without-gossip", "--without-mingle", "--without-heartbeat", "-Q", QUEUE, "-n", node],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while not celery_app.control.ping(destination=[node], timeout=0.5):
            assert worker.poll() is None and time.monotonic() < deadline, "the worker did not start"
        endpoint_create(url=f"http://127.0.0.1:{port}/hook", all_events=True, actor=None, reason="bench")
        started = time.perf_counter()
        for start in range(0, count, 500):
            with transaction.atomic():
                emit_many("InvoiceCreated", [{"invoice_id": n, "client_id": n} for n in range(start, start + 500)])
        while WebhookDelivery.objects.filter(status="delivered").count() < count:
            assert time.perf_counter() - started < 600, "deliveries did not finish in 10 minutes"
            time.sleep(0.05)
        through_worker = time.perf_counter() - started
        body = body_of(WebhookDelivery.objects.select_related("event", "endpoint").first())
        floor = _bare_posts(port, count, body)
    finally:
        worker.terminate()
        worker.wait(30)
        receiver.terminate()
        receiver.wait(10)
        WebhookEndpoint.objects.all().delete()
    return {
        "deliveries": count,
        "worker": " ".join(pool_args),
        "through_worker_s": round(through_worker, 2),
        "deliveries_per_s": round(count / through_worker),
        "bare_posts_s": round(floor, 2),
        "bare_posts_per_s": round(count / floor),
        "ratio_to_bare_posts": round(through_worker / floor, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--deliveries", type=int, default=3_000)
    args = parser.parse_args()
    database_url = os.environ.get("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/portal_bench_webhooks")
    redis_url = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/13")
    setup_django(database_url, production_like=True, env={"REDIS_URL": redis_url, "WEBHOOKS_QUEUE": QUEUE})
    from config.celery import app as celery_app

    celery_app.conf.task_always_eager = False
    results = {
        "date": datetime.datetime.now(UTC).isoformat(timespec="seconds"),
        "python": platform.python_version(),
        "outbox": outbox(args.events),
        "deliveries": [
            deliveries(args.deliveries, redis_url, database_url, ["--pool=solo"]),
            deliveries(args.deliveries, redis_url, database_url, ["--pool=threads", "--concurrency=4"]),
        ],
    }
    o = results["outbox"]
    print("| measure | s | floor s | ratio |")
    print("|---|---:|---:|---:|")
    print(
        f"| outbox: {o['events']:,} events, {o['deliveries']:,} deliveries (emit_many, 3 endpoints; "
        f"{o['events_per_s']:,} events/s) | {o['emit_with_3_endpoints_s']:.2f} | {o['copy_floor_s']:.2f} "
        f"(COPY of {o['copy_rows']:,} rows) | {o['ratio_to_copy_floor']:.2f}x |"
    )
    print(
        f"| the same events without endpoints | {o['emit_without_endpoints_s']:.2f} | | "
        f"fan-out costs {o['fan_out_cost']:.2f}x |"
    )
    for d in results["deliveries"]:
        print(
            f"| {d['deliveries']:,} deliveries through a worker ({d['worker']}; {d['deliveries_per_s']:,}/s) | "
            f"{d['through_worker_s']:.2f} | {d['bare_posts_s']:.2f} (bare POSTs, {d['bare_posts_per_s']:,}/s) | "
            f"{d['ratio_to_bare_posts']:.2f}x |"
        )
    out = ROOT / "bench" / "results"
    out.mkdir(exist_ok=True)
    (out / "webhooks.json").write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
