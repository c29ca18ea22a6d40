"""manage.py server_sync [--server ID]: compare active servers' accounts with their services (provisioning.sync),
keep the reports (the admin's server sync reports) and print them."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from provisioning.models import Server
from provisioning.sync import report_lines, servers_sync, servers_to_sync


class Command(BaseCommand):
    help = "Report accounts on servers that no service knows, and services whose account is missing."

    def add_arguments(self, parser):
        parser.add_argument("--server", type=int, help="only this server (its id)")

    def handle(self, *args, server: int | None = None, **options):
        if server is not None and not servers_to_sync(server).exists():
            known = Server.objects.filter(pk=server).first()
            if known is None:
                raise CommandError(f"There is no server #{server}.")
            raise CommandError(
                f"{known} is not synced: it is inactive, or its module ({known.module}) cannot list its accounts."
            )
        reports = servers_sync(server_id=server)
        if not reports:
            self.stdout.write("No active server has a module that can list its accounts.")
        for report in reports:
            for line in report_lines(report):
                self.stdout.write(line)
        if any(not report.ok for report in reports):
            raise CommandError("Some servers could not be read (above).")
