import time
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from fraud.geoip_build import COLUMNS, GeoIPCsvError, read_networks_csv, write_database


class Command(BaseCommand):
    help = (
        "Build a MaxMind-format GeoIP database from a CSV with the columns "
        f"{','.join(COLUMNS)} (only network and country are required). "
        "Point FRAUD_GEOIP_CITY_DB (and, if you like, FRAUD_GEOIP_ASN_DB / FRAUD_GEOIP_ANONYMOUS_DB) at the result."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("csv_path", help="the CSV file to read")
        parser.add_argument("output_path", help="the .mmdb file to write (replaced atomically if it exists)")

    def handle(self, *, csv_path: str, output_path: str, **options) -> None:
        if not Path(csv_path).is_file():
            raise CommandError(f"{csv_path} does not exist or is not a file.")
        output = Path(output_path)
        if not output.parent.is_dir():
            raise CommandError(f"The folder {output.parent} does not exist.")
        started = time.perf_counter()
        try:
            records = read_networks_csv(csv_path)
        except GeoIPCsvError as exc:
            raise CommandError(f"{csv_path} has bad rows; no database was written.\n{exc}") from None
        if not records:
            raise CommandError(f"{csv_path} holds no networks; no database was written.")
        try:
            written = write_database(records, output, description=f"Built from {Path(csv_path).name}")
        except OSError as exc:
            raise CommandError(f"Cannot write {output}: {exc.strerror or exc}.") from None
        elapsed = time.perf_counter() - started
        self.stdout.write(self.style.SUCCESS(f"Wrote {written} networks to {output} in {elapsed:.1f} s."))
