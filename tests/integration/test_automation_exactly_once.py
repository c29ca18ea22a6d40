"""Exactly once, by the database (PostgreSQL): two runs at once, a run killed with SIGKILL in the middle and
started again, and a run after missed days each leave every period invoiced once and the numbers gapless."""

import datetime
import os
import signal
import subprocess
import sys
import threading
import time
from decimal import Decimal
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection, transaction
from django.db.models import Count

from automation.models import AutomationSettings
from automation.scheduler import automation_run
from billing.cycles import BillingCycle, period_after
from billing.models import BillingSettings, Client, Invoice, InvoiceItem, InvoiceNumberCounter
from billing.services.numbering import number_format_apply, numbered_when_unpaid
from provisioning.automation import CLIENT_BATCH_SIZE
from provisioning.models import Service
from tests.concurrency import at_once

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

BASE_DIR = Path(settings.BASE_DIR)
TODAY = datetime.date(2026, 12, 1)


def _database_url() -> str:
    db = connection.settings_dict
    auth = db["USER"] + (f":{db['PASSWORD']}" if db["PASSWORD"] else "")
    return f"postgres://{auth}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


def _world(customer, hosting, clients: int) -> list[int]:
    """`clients` clients with one monthly service each, due within the lead days of TODAY."""
    owners = Client.objects.bulk_create(
        Client(contact_name=f"C{n}", email=f"c{n}@example.com", currency=customer.currency, country="US")
        for n in range(clients)
    )
    services = Service.objects.bulk_create(
        Service(
            client=owner,
            product=hosting,
            currency=customer.currency,
            billing_cycle=BillingCycle.MONTHLY,
            recurring_amount=Decimal("4.99"),
            auto_setup="never",
            next_due_date=TODAY + datetime.timedelta(days=n % 10),
            status=Service.Status.ACTIVE,
        )
        for n, owner in enumerate(owners)
    )
    return [service.pk for service in services]


def _assert_each_service_invoiced_once_and_numbers_gapless(service_ids: list[int]) -> None:
    per_service = dict(
        InvoiceItem.objects.filter(kind="service", related_id__in=service_ids)
        .values("related_id")
        .annotate(n=Count("id"))
        .values_list("related_id", "n")
    )
    assert sorted(per_service) == sorted(service_ids), "a service was not invoiced"
    assert set(per_service.values()) == {1}, "a service was invoiced twice"
    sequences = sorted(int(number.rsplit("-", 1)[1]) for number in Invoice.objects.values_list("number", flat=True))
    assert sequences == list(range(1, len(sequences) + 1)), "invoice numbers have a gap or a repeat"
    assert InvoiceNumberCounter.objects.get().last_value == len(sequences)


def test_two_runs_started_at_once_invoice_everything_once(customer, hosting):
    service_ids = _world(customer, hosting, 1200)
    outcomes = at_once(lambda: automation_run(today=TODAY, only=["renewal_invoicing"], trigger="test"))
    statuses = sorted(outcome.steps[0].status for outcome in outcomes)
    # The advisory lock lets one run do the step; the other records it as skipped.
    assert statuses == ["skipped", "succeeded"]
    _assert_each_service_invoiced_once_and_numbers_gapless(service_ids)


def _number_held(number: str, customer, ready: threading.Event, release: threading.Event, pid: list) -> None:
    """In its own connection, insert an invoice carrying `number` and keep the transaction open until `release`:
    a run whose batch takes that number then waits in its INSERT on the unique index, its transaction open."""
    try:
        with transaction.atomic():
            Invoice.objects.create(
                number=number, client=customer, currency=customer.currency, date=TODAY, due_date=TODAY
            )
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_backend_pid()")
                pid.append(cursor.fetchone()[0])
            ready.set()
            release.wait(120)
            transaction.set_rollback(True)
    finally:
        connection.close()


def _backends_waiting_on(pid: int) -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE %s = ANY(pg_blocking_pids(pid))", [pid])
        return cursor.fetchone()[0]


def test_a_run_killed_mid_way_and_started_again_finishes_without_duplicate_or_gap(customer, hosting, tmp_path):
    batch = CLIENT_BATCH_SIZE
    service_ids = _world(customer, hosting, batch * 2 + batch // 2)  # three batches of clients
    AutomationSettings.load()
    billing = BillingSettings.load()
    assert numbered_when_unpaid(billing)
    # Whichever batch commits first takes numbers 1 to `batch`. The next takes the numbers after it and, holding
    # the counter, waits on an uncommitted invoice that holds a number in the middle of them, its transaction
    # open: the kill lands in the middle of that batch, however fast or slow this machine is, and later batches
    # wait behind it. A batch written in parts would leave its first part behind.
    held = number_format_apply(billing.invoice_number_format, sequence=batch + batch // 2 + 1, on=TODAY)
    ready, release, holder_pid = threading.Event(), threading.Event(), []
    holder = threading.Thread(target=_number_held, args=(held, customer, ready, release, holder_pid))
    holder.start()
    assert ready.wait(30), f"the invoice holding number {held} was not inserted"
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings.base", "DATABASE_URL": _database_url()}
    env.pop("REDIS_URL", None)  # tasks in-process, as in `make run`
    log = (tmp_path / "run.log").open("w")
    process = subprocess.Popen(
        [sys.executable, "manage.py", "run_automation", "--date", TODAY.isoformat(), "--step", "renewal_invoicing"],
        cwd=BASE_DIR,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 120
        while _backends_waiting_on(holder_pid[0]) == 0:
            assert process.poll() is None, (tmp_path / "run.log").read_text()
            assert time.monotonic() < deadline, f"the run's second batch did not reach number {held} in 120 s"
            time.sleep(0.02)
        process.send_signal(signal.SIGKILL)
        process.wait(30)
    finally:
        release.set()
        holder.join(30)
        log.close()
    assert process.returncode == -signal.SIGKILL
    assert Invoice.objects.count() == batch, "only the first batch committed; the one killed left nothing"

    outcome = automation_run(today=TODAY, only=["renewal_invoicing"], trigger="test")
    assert outcome.ok and outcome.steps[0].counts["invoices created"] == len(service_ids) - batch
    _assert_each_service_invoiced_once_and_numbers_gapless(service_ids)


def test_missed_days_are_caught_up_once(customer, hosting):
    AutomationSettings.objects.filter(pk=AutomationSettings.load().pk).update(continuous_invoicing=True)
    service_ids = _world(customer, hosting, 30)
    automation_run(today=TODAY, trigger="test")
    # No run for 70 days: the next one invoices every period that came due meanwhile, once.
    later = TODAY + datetime.timedelta(days=70)
    automation_run(today=later, trigger="test")
    automation_run(today=later, trigger="test")
    for service in Service.objects.filter(pk__in=service_ids):
        starts = list(
            InvoiceItem.objects.filter(kind="service", related_id=service.pk)
            .order_by("period_start")
            .values_list("period_start", flat=True)
        )
        expected, start = [], service.next_due_date  # unpaid: the due date has not moved
        while start <= later + datetime.timedelta(days=14):  # the default 14 lead days
            expected.append(start)
            start = period_after(start, 1, anchor_day=service.registration_date.day)
        assert starts == expected, service.pk
