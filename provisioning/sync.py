"""Server sync: ask each active server whose module can list its accounts for them, directly (a read, not a
queued action), and compare with the services the portal has there. Reports accounts no service knows (an orphan
left by a failed setup, an account made by hand) and Active or Suspended services whose account is missing. The
findings are kept as a ServerSyncReport (shown read-only in the admin) and nothing on the server or the services
is changed: what to do about them is the admin's call."""

from __future__ import annotations

import logging

from core import crypto
from provisioning.models import Server, ServerSyncReport, Service
from provisioning.modules import registry
from provisioning.modules.base import AccountList, Action, ModuleContext, ModuleError
from provisioning.servers import HOLDS_AN_ACCOUNT, server_info

logger = logging.getLogger("provisioning")

EXPECTED_THERE = (Service.Status.ACTIVE, Service.Status.SUSPENDED)


def servers_to_sync(server_id: int | None = None):
    """Active servers whose module offers list_accounts (one of them with `server_id`)."""
    listing = [
        name
        for name in registry.names()
        if Action.LIST_ACCOUNTS in (registry.module_class(name).optional_actions or frozenset())
    ]
    servers = Server.objects.filter(is_active=True, module__in=listing).order_by("pk")
    return servers.filter(pk=server_id) if server_id is not None else servers


def _listing(server: Server) -> AccountList:
    module = registry.module_for(server.module)
    answer = module.call(ModuleContext(action=Action.LIST_ACCOUNTS, service=None, server=server_info(server)))
    if not isinstance(answer, AccountList):
        raise ModuleError(f"The {module.label} module answered list accounts with {type(answer).__name__}.")
    return answer


def server_sync(*, server: Server) -> ServerSyncReport:
    """Compare one server's accounts with its services and keep the report. A server that cannot be read gets a
    report saying why (the sync of the other servers goes on)."""
    try:
        listing = _listing(server)
    except (ModuleError, crypto.SecretUnreadable, registry.UnknownModule) as error:
        message = getattr(error, "message", str(error))
        return ServerSyncReport.objects.create(server=server, ok=False, error=message[:2000])
    except Exception:  # a module's bug is reported, never the run's end
        logger.exception("Listing the accounts of server %s failed unexpectedly", server.pk)
        return ServerSyncReport.objects.create(
            server=server, ok=False, error="The module failed unexpectedly; the error is in the portal's log."
        )
    services = list(
        Service.objects.filter(server=server, status__in=HOLDS_AN_ACCOUNT).values_list("pk", "username", "status")
    )
    known_ids = {pk for pk, _username, _status in services}
    known_names = {username for _pk, username, _status in services if username}
    on_server_ids = {account.service_id for account in listing.accounts if account.service_id is not None}
    on_server_names = {account.username for account in listing.accounts}
    unknown = [
        {"username": account.username, "service_id": account.service_id, "domain": account.domain}
        for account in listing.accounts
        if account.service_id not in known_ids and account.username not in known_names
    ]
    missing = [
        {"service_id": pk, "username": username}
        for pk, username, status in services
        if status in EXPECTED_THERE and pk not in on_server_ids and (not username or username not in on_server_names)
    ]
    return ServerSyncReport.objects.create(
        server=server,
        accounts_on_server=len(listing.accounts),
        services_checked=len(services),
        unknown_accounts=unknown,
        missing_accounts=missing,
    )


def servers_sync(*, server_id: int | None = None) -> list[ServerSyncReport]:
    return [server_sync(server=server) for server in servers_to_sync(server_id)]


def report_lines(report: ServerSyncReport) -> list[str]:
    """The report in words, for the command and the run's plan."""
    name = f"{report.server.name} (#{report.server_id})"
    if not report.ok:
        return [f"{name}: could not be read: {report.error}"]
    lines = [
        f"{name}: {report.accounts_on_server} account(s) on the server, {report.services_checked} service(s) "
        f"here; {len(report.unknown_accounts)} unknown, {len(report.missing_accounts)} missing"
    ]
    lines += [
        f"  unknown account {row['username']!r}"
        + (f" (tagged service #{row['service_id']})" if row["service_id"] else "")
        for row in report.unknown_accounts
    ]
    lines += [
        f"  service #{row['service_id']} ({row['username'] or 'no username'}): its account is not on the server"
        for row in report.missing_accounts
    ]
    return lines
