#!/usr/bin/env python
"""Benchmark of the invoice PDF: a fresh render, and the cached re-download of an unchanged invoice.

    BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/portal_bench_pdf .venv/bin/python bench/pdf.py

Without BENCH_DATABASE_URL it uses a throw-away SQLite file. The bench database is emptied first: never point
it at a database you care about. The invoice has 10 lines, two tax levels and two payments. Each timed render
starts from a deleted cache row, so it loads, hashes, renders with WeasyPrint and stores, as a download of a
changed invoice does; the first render of the process (WeasyPrint's import and font list) is reported apart.
Floors, same run: WeasyPrint rendering a one-line HTML document (what any render costs), and one query reading
the stored PDF's bytes (what any cached download costs); the targets are ratios to them.
Prints a Markdown table for docs/PERFORMANCE.md and writes bench/results/pdf.json.
"""

import argparse
import datetime
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

from common import percentile, print_ratio_targets, setup_django, timed_ms  # noqa: E402

# Issue 3's render p50 <= 100 ms and cached download p50 <= 5 ms, as ratios to floors measured in the same run
# (issue 15: this machine is too noisy for absolute times). Each ratio is the old target over its floor as
# measured on 2026-12-06 (render floor p50 RENDER_FLOOR_MS, cached floor p50 CACHED_FLOOR_MS), so it is the
# same bar at today's speed; docs/PERFORMANCE.md says so, and the owner decides whether to keep it.
RENDER_FLOOR_MS, CACHED_FLOOR_MS = 18.0, 0.53
TARGETS = {
    "render p50": ("render floor p50", 5.5),  # 100 / 18.0
    "cached download p50": ("cached floor p50", 9.5),  # 5 / 0.53
}
ONE_LINE = "<!doctype html><html><body><p>Invoice</p></body></html>"


def _invoice_with_lines_taxes_and_payments(line_count: int) -> int:
    from decimal import Decimal

    from billing.models import Currency, TaxRule
    from billing.services import InvoiceLine, client_create, invoice_create, payment_record

    usd = Currency.objects.create(code="USD", prefix="$", is_default=True)
    TaxRule.objects.create(level=1, name="VAT", country="DE", rate=Decimal("19"))
    TaxRule.objects.create(level=2, name="City tax", country="DE", rate=Decimal("2.5"))
    client = client_create(
        contact_name="Erika Mustermann",
        company_name="Kunde GmbH",
        email="erika@example.com",
        address_1="Hauptstraße 5",
        postcode="80331",
        city="München",
        country="DE",
        currency=usd,
        actor=None,
    )
    start = datetime.date(2026, 3, 1)
    lines = [
        InvoiceLine(
            kind="manual",
            description=f"Starter hosting shop{n}.example.com (monthly)",
            amount=Decimal("9.99") + n,
            taxed=n % 3 != 2,
            period_start=start,
            period_end=datetime.date(2026, 3, 31),
        )
        for n in range(line_count)
    ]
    invoice = invoice_create(client=client, lines=lines, actor=None, issue_date=start)
    half = (invoice.total / 2).quantize(Decimal("0.01"))
    for reference, amount in (("BT-1", half), ("pi_3PZ0aB2eZvKYlo2C", invoice.total - half)):
        payment_record(
            invoice_id=invoice.pk, amount=amount, gateway="banktransfer", gateway_transaction_id=reference, actor=None
        )
    return invoice.pk


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--lines", type=int, default=10)
    parser.add_argument("--renders", type=int, default=60)
    parser.add_argument("--downloads", type=int, default=500)
    args = parser.parse_args()
    database_url = os.environ.get("BENCH_DATABASE_URL") or f"sqlite:///{tempfile.mkdtemp()}/bench.sqlite3"
    setup_django(database_url)

    from django.db import connection

    import billing.pdf as pdf_module
    from billing.models import Invoice, InvoicePdf
    from billing.pdf import invoice_pdf

    invoice_id = _invoice_with_lines_taxes_and_payments(args.lines)
    assert Invoice.objects.get(pk=invoice_id).status == Invoice.Status.PAID

    started = time.perf_counter()
    content = invoice_pdf(invoice_id)
    first_render_ms = (time.perf_counter() - started) * 1000

    def fresh_render():
        renders = pdf_module.render_count
        started = time.process_time()
        invoice_pdf(invoice_id)
        render_cpu_ms.append((time.process_time() - started) * 1000)
        assert pdf_module.render_count == renders + 1

    render_cpu_ms: list[float] = []
    uncached = InvoicePdf.objects.filter(invoice_id=invoice_id)
    render_ms = timed_ms(fresh_render, args.renders, before=uncached.delete)
    import weasyprint  # loaded by the first render already

    render_floor_ms = timed_ms(lambda: weasyprint.HTML(string=ONE_LINE).write_pdf(), args.renders)

    renders = pdf_module.render_count
    queries = []
    with connection.execute_wrapper(lambda execute, sql, *rest: queries.append(sql) or execute(sql, *rest)):
        invoice_pdf(invoice_id)
    cached_ms = timed_ms(lambda: invoice_pdf(invoice_id), args.downloads)
    stored = InvoicePdf.objects.filter(invoice_id=invoice_id).values_list("content", flat=True)
    cached_floor_ms = timed_ms(lambda: bytes(stored.get()), args.downloads)
    cached = invoice_pdf(invoice_id)
    assert pdf_module.render_count == renders, "a cached download rendered"
    assert cached.startswith(b"%PDF-")

    figures = {
        "render p50": statistics.median(render_ms),
        "render p95": percentile(render_ms, 95),
        "render CPU p50": statistics.median(render_cpu_ms),
        "cached download p50": statistics.median(cached_ms),
        "cached download p95": percentile(cached_ms, 95),
        "render floor p50": statistics.median(render_floor_ms),
        "cached floor p50": statistics.median(cached_floor_ms),
        "first render of the process": first_render_ms,
    }
    load = ", ".join(f"{value:.1f}" for value in os.getloadavg())
    machine = (
        f"{platform.node()} · {os.cpu_count()} cores · load {load} · Python {platform.python_version()} · "
        f"{connection.vendor}"
    )
    result = {
        "machine": machine,
        "lines": args.lines,
        "renders": args.renders,
        "downloads": args.downloads,
        "pdf_bytes": len(content),
        "cached_download_queries": len(queries),
        "figures_ms": figures,
    }
    out = ROOT / "bench" / "results"
    out.mkdir(exist_ok=True)
    (out / "pdf.json").write_text(json.dumps(result, indent=2))

    print(
        f"{machine}; invoice of {args.lines} lines, 2 taxes, 2 payments ({len(content)} bytes); "
        f"{args.renders} renders, {args.downloads} cached downloads of {len(queries)} queries"
    )
    sys.exit(0 if print_ratio_targets(figures, TARGETS) else 1)


if __name__ == "__main__":
    main()
