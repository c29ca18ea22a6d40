#!/usr/bin/env python
"""Benchmark of the fraud check (issue 5): GeoIP lookups per second and one full check, on a 1M-network database.

    .venv/bin/python bench/fraud.py
    BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/portal_bench .venv/bin/python bench/fraud.py

Writes a CSV of --networks IPv4 /24 networks (contiguous from 16.0.0.0, so 1,000,000 of them cover
16.0.0.0-31.66.63.255) into a temporary folder, builds the database from it with the code behind
`manage.py build_geoip_db`, then measures random lookups and full checks (settings and rules from the database,
GeoIP, every rule). Floor, same run: for each check's facts, the bare pieces it cannot do without: one
maxminddb lookup of its address and the two reads of settings and rules as plain SQL (no ORM); the target is the
full check's median as a ratio to the floor's. Without BENCH_DATABASE_URL it uses a throw-away SQLite file; the
bench database is migrated but not emptied. Nothing is written into the repository. Prints a Markdown table for
docs/PERFORMANCE.md.
"""

import argparse
import ipaddress
import os
import platform
import random
import resource
import statistics
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from common import percentile, setup_django, timed_ms  # noqa: E402

# Issue 5's full check median <= 2 ms, as a ratio to the floor measured in the same run (issue 15: this machine is
# too noisy for absolute times): 2 ms over the floor's median as measured on 2026-12-06 (FLOOR_MEDIAN_MS), so it
# is the same bar at today's speed; docs/PERFORMANCE.md says so, and the owner decides whether to keep it.
FLOOR_MEDIAN_MS = 0.40
TARGET_CHECK_RATIO = 5.0  # 2 / 0.40
FIRST_NETWORK = int(ipaddress.IPv4Address("16.0.0.0"))

# (country, region, city, latitude, longitude): the records cycle through these, with a few ASNs and flags each.
PLACES = [
    ("DE", "BE", "Berlin", 52.52, 13.405),
    ("DE", "BY", "Munich", 48.1351, 11.582),
    ("GB", "ENG", "London", 51.5074, -0.1278),
    ("FR", "IDF", "Paris", 48.8566, 2.3522),
    ("NL", "NH", "Amsterdam", 52.3676, 4.9041),
    ("US", "NY", "New York", 40.7128, -74.006),
    ("US", "CA", "Los Angeles", 34.0522, -118.2437),
    ("BR", "SP", "São Paulo", -23.5505, -46.6333),
    ("JP", "13", "Tokyo", 35.6762, 139.6503),
    ("NG", "LA", "Lagos", 6.5244, 3.3792),
    ("IN", "MH", "Mumbai", 19.076, 72.8777),
    ("AU", "NSW", "Sydney", -33.8688, 151.2093),
]


def _write_csv(path: Path, networks: int) -> None:
    with path.open("w") as csv_file:
        csv_file.write("network,country,region,city,latitude,longitude,asn,as_org,is_anonymous,is_hosting\n")
        for index in range(networks):
            country, region, city, latitude, longitude = PLACES[index % len(PLACES)]
            variant = (index // len(PLACES)) % 8  # 12 places x 8 variants = 96 distinct records
            network = ipaddress.IPv4Address(FIRST_NETWORK + index * 256)
            csv_file.write(
                f"{network}/24,{country},{region},{city},{latitude},{longitude},{64500 + variant},AS {variant} Ltd,"
                f"{int(variant == 6)},{int(variant == 7)}\n"
            )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--networks", type=int, default=1_000_000)
    parser.add_argument("--lookups", type=int, default=200_000)
    parser.add_argument("--checks", type=int, default=5_000)
    args = parser.parse_args()
    if not 0 < args.networks <= 2**20 * 15:
        parser.error("--networks must be between 1 and 15,728,640 (/24s from 16.0.0.0 up to 255.255.255.0)")
    rng = random.Random(5)
    workdir = tempfile.TemporaryDirectory(prefix="fraud-bench-")
    folder = Path(workdir.name)
    csv_path, geoip_path = folder / "networks.csv", folder / "bench.mmdb"
    database_url = os.environ.get("BENCH_DATABASE_URL") or f"sqlite:///{folder / 'bench.sqlite3'}"
    # DEBUG off, as in production: with DEBUG on, Django records every query and, on SQLite, runs a second query
    # per query to show its parameters, which would triple the cost of the two queries the check makes.
    setup_django(
        database_url,
        flush=False,
        production_like=True,
        env={"FRAUD_GEOIP_CITY_DB": str(geoip_path), "FRAUD_GEOIP_ASN_DB": "", "FRAUD_GEOIP_ANONYMOUS_DB": ""},
    )

    import maxminddb
    from django.db import connection

    from fraud.engine import OrderFacts, check
    from fraud.geoip import GeoIPLocator, parse_ip
    from fraud.geoip_build import read_networks_csv, write_database
    from fraud.models import SETTINGS_ROW_ID, FraudRule, FraudSettings
    from fraud.selectors import fraud_config_get
    from fraud.services import fraud_check

    print(f"Writing {args.networks:,} networks to {csv_path} ...", file=sys.stderr)
    _write_csv(csv_path, args.networks)
    started, started_cpu = time.perf_counter(), time.process_time()
    records = read_networks_csv(csv_path)
    read_s = time.perf_counter() - started
    started = time.perf_counter()
    write_database(records, geoip_path)
    write_s = time.perf_counter() - started
    build_cpu_s = time.process_time() - started_cpu
    del records
    build_rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"Built in {read_s + write_s:.1f} s; measuring ...", file=sys.stderr)

    last_address = FIRST_NETWORK + args.networks * 256 - 1
    addresses = [str(ipaddress.IPv4Address(rng.randint(FIRST_NETWORK, last_address))) for _ in range(args.lookups)]

    reader = maxminddb.open_database(str(geoip_path))
    started = time.perf_counter()
    started_cpu = time.thread_time()
    for address in addresses:
        reader.get(address)
    raw_per_s = len(addresses) / (time.perf_counter() - started)
    raw_per_cpu_s = len(addresses) / (time.thread_time() - started_cpu)
    c_extension = type(reader).__module__ == "maxminddb.extension"
    assert reader.get(addresses[0]) is not None

    locator = GeoIPLocator(city_db=str(geoip_path))
    parsed = [parse_ip(address)[1] for address in addresses]
    started = time.perf_counter()
    started_cpu = time.thread_time()
    for address in parsed:
        locator.locate(address)
    locate_per_s = len(parsed) / (time.perf_counter() - started)
    locate_per_cpu_s = len(parsed) / (time.thread_time() - started_cpu)

    def facts_for(n: int) -> OrderFacts:
        return OrderFacts(
            client_id=n,
            client_age_days=n % 60,
            email=f"client{n}@{('gmail.com', 'example.com', 'mailinator.com')[n % 3]}",
            billing_country=PLACES[n % len(PLACES)][0],
            billing_city=PLACES[n % len(PLACES)][2],
            billing_latitude=PLACES[n % len(PLACES)][3],
            billing_longitude=PLACES[n % len(PLACES)][4],
            ip_address=addresses[n % len(addresses)],
            order_total=Decimal("49.90") * (n % 20 + 1),
            currency="USD",
            product_ids=(1, 2),
            product_names=("Starter", ".com"),
            services_ordered=n % 6,
            earlier_orders=n % 3,
            has_paid_invoice=n % 2 == 0,
            earlier_fraud_orders_same_ip=int(n % 50 == 0),
            orders_from_ip_last_hour=n % 5,
        )

    facts = [facts_for(n) for n in range(args.checks)]
    config = fraud_config_get()
    # Wall time is the figure; CPU time of this thread says what the check costs when other processes compete
    # for the two cores (the load average is printed with the figures).
    engine_ms, engine_cpu_ms, service_ms, service_cpu_ms, fired = [], [], [], [], 0
    for one in facts:
        started, started_cpu = time.perf_counter(), time.thread_time()
        result = check(one, config, locator)
        engine_ms.append((time.perf_counter() - started) * 1000)
        engine_cpu_ms.append((time.thread_time() - started_cpu) * 1000)
        fired += len(result.rules)
        assert result.geoip.available and not result.warnings, result.warnings
    for one in facts:
        started, started_cpu = time.perf_counter(), time.thread_time()
        fraud_check(facts=one)
        service_ms.append((time.perf_counter() - started) * 1000)
        service_cpu_ms.append((time.thread_time() - started_cpu) * 1000)

    quote = connection.ops.quote_name
    settings_sql = f"SELECT * FROM {quote(FraudSettings._meta.db_table)} WHERE id = %s"
    rules_sql = f"SELECT code, enabled, points, threshold FROM {quote(FraudRule._meta.db_table)}"
    pending = iter(facts)

    def floor_of_one_check() -> None:
        with connection.cursor() as cursor:
            cursor.execute(settings_sql, [SETTINGS_ROW_ID])
            cursor.fetchone()
            cursor.execute(rules_sql)
            cursor.fetchall()
        reader.get(next(pending).ip_address)

    floor_ms = timed_ms(floor_of_one_check, len(facts))
    ratio = statistics.median(service_ms) / statistics.median(floor_ms)

    def ms(samples: list[float], cpu_samples: list[float], pct: float) -> str:
        return f"{percentile(samples, pct):.3f} ms ({percentile(cpu_samples, pct):.3f} ms CPU)"

    figures = [
        (
            "database build (read CSV + write)",
            f"{read_s + write_s:.1f} s ({read_s:.1f} + {write_s:.1f}; {build_cpu_s:.1f} s CPU)",
            "",
        ),
        ("database file size", f"{geoip_path.stat().st_size / 1024**2:.1f} MiB", ""),
        ("peak memory of the build", f"{build_rss_mb:,.0f} MiB", ""),
        ("GeoIP lookups/s, maxminddb reader", f"{raw_per_s:,.0f} ({raw_per_cpu_s:,.0f} per CPU second)", ""),
        (
            "GeoIP lookups/s, GeoIPLocator (stat + lookup + facts)",
            f"{locate_per_s:,.0f} ({locate_per_cpu_s:,.0f} per CPU second)",
            "",
        ),
        ("engine check, config in hand: median", ms(engine_ms, engine_cpu_ms, 50), ""),
        ("engine check, config in hand: p95", ms(engine_ms, engine_cpu_ms, 95), ""),
        (
            "full check (`fraud_check`, 2 queries): median",
            ms(service_ms, service_cpu_ms, 50),
            "",
        ),
        ("full check (`fraud_check`, 2 queries): p95", ms(service_ms, service_cpu_ms, 95), ""),
        ("floor (bare lookup + the 2 reads in plain SQL): median", f"{statistics.median(floor_ms):.3f} ms", ""),
        ("full check median ÷ floor median", f"{ratio:.2f}", f"≤ {TARGET_CHECK_RATIO:g}"),
    ]
    load = ", ".join(f"{value:.1f}" for value in os.getloadavg())
    machine = (
        f"{platform.node()} · {os.cpu_count()} cores (load average {load}) · Python {platform.python_version()}"
        f" · {connection.vendor}"
    )
    print(
        f"{machine}; {args.networks:,} IPv4 /24 networks; maxminddb {'C extension' if c_extension else 'pure Python'}; "
        f"{args.lookups:,} random lookups; {args.checks:,} checks ({fired / len(facts):.1f} rules fired per check)"
    )
    print("| measure | measured | target |")
    print("|---|---:|---:|")
    for name, value, target in figures:
        print(f"| {name} | {value} | {target} |")
    missed = ratio > TARGET_CHECK_RATIO
    if missed:
        print(f"MISSED: full check median above {TARGET_CHECK_RATIO:g}x its floor", file=sys.stderr)
    workdir.cleanup()
    sys.exit(1 if missed else 0)


if __name__ == "__main__":
    main()
