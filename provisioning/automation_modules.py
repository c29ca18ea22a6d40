"""The automation run's module steps: hand out the module calls whose task was lost or whose retry is due, ask
the day's usage of every Active service whose module reports it, and compare each server's accounts with its
services (server sync). The overdue steps (provisioning.automation) ask their module calls through
services_move_many."""

from __future__ import annotations

from django.db import transaction
from django.db.models import Q

from automation.registry import StepContext, automation_step
from provisioning.models import Service
from provisioning.modules import registry
from provisioning.modules.base import Action
from provisioning.queue.requests import module_calls_request_many
from provisioning.queue.sweep import module_calls_sweep
from provisioning.sync import report_lines, servers_sync, servers_to_sync

USAGE_BATCH = 1000


@automation_step(
    "module_calls_sweep",
    order=4,
    description="Hand out the module calls whose task was lost or whose retry is due (beat does it every minute too).",
)
def sweep_module_calls(context: StepContext) -> None:
    if context.dry_run:  # a dry run is rolled back: a call run from it could not be
        return
    context.count("module calls handed out", module_calls_sweep().sent)


def usage_services():
    """Active services whose module reports usage and that have an account to ask about."""
    reporting = [name for name in registry.names() if Action.USAGE in registry.module_class(name).optional_actions]
    needs_no_server = [name for name in reporting if not registry.module_class(name).needs_server]
    return Service.objects.filter(status=Service.Status.ACTIVE, module__in=reporting).filter(
        Q(server_id__isnull=False) | Q(module__in=needs_no_server)
    )


@automation_step(
    "module_usage",
    order=150,
    description="Ask the day's usage of each Active service whose module reports it (once per service and day).",
)
def ask_usage(context: StepContext) -> None:
    targets = list(usage_services().order_by("pk").values_list("pk", "module", "server_id"))
    if context.dry_run:
        if targets:
            context.say(f"usage would be asked of {len(targets)} service(s)")
        return
    nonce = f"usage-{context.today.isoformat()}"

    def batch_request(batch: list[tuple[int, str, int | None]]) -> int:
        with transaction.atomic():
            return len(module_calls_request_many(services=batch, action=Action.USAGE, nonce=nonce, actor=None))

    for _batch, asked in context.each_batch(targets, USAGE_BATCH, batch_request):
        context.count("usage calls asked", asked)


@automation_step(
    "server_sync",
    order=160,
    description="Compare each active server's accounts with its services: accounts no service knows, services "
    "whose account is missing (reports in the admin's server sync reports).",
)
def sync_servers(context: StepContext) -> None:
    if context.dry_run:
        context.say(f"{servers_to_sync().count()} server(s) would be compared with their services")
        return
    for report in servers_sync():
        if not report.ok:
            context.error(f"server sync of {report.server}: {report.error}")
            continue
        context.count("servers synced")
        context.count("unknown accounts", len(report.unknown_accounts))
        context.count("missing accounts", len(report.missing_accounts))
        if not report.clean:
            for line in report_lines(report):
                context.say(line)
