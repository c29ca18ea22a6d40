#!/usr/bin/env python
"""Benchmark of sending emails: queued emails per second through our sending path (claim, render the template,
Django's SMTP backend, record the outcome) to a local SMTP server (aiosmtpd on loopback), against a floor
measured in the same run: the same messages, already rendered, sent with bare smtplib over the same number of
connections (one per batch of 100, as our sending task opens).

    BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/portal_bench_emails .venv/bin/python bench/emails.py

Without BENCH_DATABASE_URL it uses a throw-away SQLite file. The bench database is emptied first: never point
it at a database you care about. The run alternates floor and ours `--rounds` times and reports the medians,
so both see the same machine load. Prints a Markdown table for docs/PERFORMANCE.md and writes
bench/results/emails.json.
"""

import argparse
import json
import os
import platform
import smtplib
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from common import setup_django  # noqa: E402

BATCH = 100  # notifications.emails.sending.SWEEP_BATCH: one task, one SMTP connection per batch


def _queue(client, count: int, round_no: int) -> list[int]:
    from notifications.services import EmailToQueue, email_queue_many

    email_queue_many(
        [
            EmailToQueue(
                template="invoice_overdue_first",
                to_address=client.email,
                idempotency_key=f"bench:{round_no}:{n}",
                context={
                    "invoice_id": n,
                    "number": f"INV-2026-{n:06d}",
                    "due_date": "2026-12-01",
                    "total": "24.99",
                    "balance_due": "24.99",
                    "currency": "USD",
                    "level_days": 1,
                },
                client_id=client.pk,
            )
            for n in range(count)
        ]
    )
    from notifications.models import OutboundEmail

    return list(
        OutboundEmail.objects.filter(idempotency_key__startswith=f"bench:{round_no}:")
        .order_by("pk")
        .values_list("pk", flat=True)
    )


def _floor(messages: list[tuple[str, str, bytes]], port: int) -> float:
    """Seconds to send the rendered messages with bare smtplib, a connection per batch."""
    started = time.perf_counter()
    for first in range(0, len(messages), BATCH):
        with smtplib.SMTP("127.0.0.1", port) as smtp:
            for sender, recipient, content in messages[first : first + BATCH]:
                smtp.sendmail(sender, [recipient], content)
    return time.perf_counter() - started


def _ours(ids: list[int]) -> float:
    from notifications.emails.sending import SendResult, emails_send

    started = time.perf_counter()
    for first in range(0, len(ids), BATCH):
        outcomes = emails_send(ids[first : first + BATCH])
        assert all(o.result == SendResult.SENT for o in outcomes), outcomes[:3]
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--emails", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    database_url = os.environ.get("BENCH_DATABASE_URL") or f"sqlite:///{tempfile.mkdtemp()}/bench.sqlite3"
    setup_django(database_url, production_like=True)

    import logging

    from django.conf import settings
    from django.db import connection

    from billing.models import Currency
    from billing.services import client_create
    from notifications.emails.templates import email_templates_seed
    from notifications.models import OutboundEmail
    from tests.smtp import SMTPServer

    logging.getLogger("mail.log").setLevel(logging.WARNING)
    email_templates_seed()  # the flush emptied the seeded templates
    server = SMTPServer().start()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", server.port
    settings.EMAIL_SEND_AFTER_COMMIT = False  # this script sends them itself, timed
    usd = Currency.objects.create(code="USD", prefix="$", is_default=True)
    client = client_create(
        contact_name="Erika Mustermann", email="erika@example.com", country="DE", currency=usd, actor=None
    )

    floor_s, ours_s = [], []
    for round_no in range(args.rounds):
        ids = _queue(client, args.emails, round_no)
        ours_s.append(_ours(ids))
        sent = list(OutboundEmail.objects.filter(pk__in=ids).order_by("pk"))
        # The floor sends exactly what we sent: the bytes the server received in our round.
        received = server.messages[-len(ids) :]
        assert len(received) == len(sent) == args.emails
        messages = [(r.mail_from, r.rcpt_tos[0], r.content) for r in received]
        floor_s.append(_floor(messages, server.port))
        assert len(server.messages) == (round_no + 1) * 2 * args.emails
    server.stop()

    floor, ours = statistics.median(floor_s), statistics.median(ours_s)
    figures = {
        "ours (emails/s)": args.emails / ours,
        "floor: bare smtplib (emails/s)": args.emails / floor,
        "ratio (our time / floor time)": ours / floor,
        "ours per email (ms)": ours / args.emails * 1000,
        "floor per email (ms)": floor / args.emails * 1000,
    }
    load = ", ".join(f"{value:.1f}" for value in os.getloadavg())
    machine = (
        f"{platform.node()} · {os.cpu_count()} cores · load {load} · Python {platform.python_version()} · "
        f"{connection.vendor}"
    )
    result = {"machine": machine, "emails": args.emails, "rounds": args.rounds, "figures": figures}
    out = ROOT / "bench" / "results"
    out.mkdir(exist_ok=True)
    (out / "emails.json").write_text(json.dumps(result, indent=2))
    print(f"{machine}; {args.emails} emails x {args.rounds} rounds, batches of {BATCH}, medians")
    print("| measure | value |")
    print("|---|---:|")
    for name, value in figures.items():
        print(f"| {name} | {value:.2f} |")


if __name__ == "__main__":
    main()
