"""Reads for the client's service page: how to connect (never the password), where its setup stands, its latest
usage, and whether it offers "reset password". A handful of queries whatever the service's history."""

from __future__ import annotations

import enum
from dataclasses import dataclass

from provisioning.models import ModuleCall, Service, ServiceUsage
from provisioning.modules import registry
from provisioning.modules.base import Action
from provisioning.queue.requests import create_key

# What a module's create may return that the client needs to connect, in the order the page shows it.
CONNECTION_FIELDS = (("host", "Host"), ("port", "Port"), ("database", "Database"), ("zone", "DNS zone"))
# Usage figures the page knows how to show: label, and whether the number is bytes (shown in a human unit).
USAGE_FIGURES = {"disk_bytes": ("Disk used", True), "records": ("DNS records", False)}
_IN_FLIGHT = (ModuleCall.Status.QUEUED, ModuleCall.Status.RUNNING, ModuleCall.Status.RETRYING)


class SetupState(enum.Enum):
    """Where a Pending service's setup stands, as the client may know it (never the technical error)."""

    NOT_STARTED = "not_started"  # no create asked yet: the order waits for payment or acceptance
    IN_PROGRESS = "in_progress"  # the create is queued or running
    RETRYING = "retrying"  # a first attempt did not get through; it is tried again by itself
    DELAYED = "delayed"  # the create failed and waits in the admins' module queue


@dataclass(frozen=True)
class UsageFigure:
    label: str
    used: int
    limit: int | None
    is_bytes: bool


@dataclass(frozen=True)
class ServiceUsageFacts:
    recorded_on: object  # datetime.date
    figures: list[UsageFigure]


@dataclass(frozen=True)
class ServicePage:
    connection: list[tuple[str, str]]  # (label, value): host, port, database or zone, username
    setup: SetupState | None  # None unless the service is Pending
    usage: ServiceUsageFacts | None
    last_password_change: ModuleCall | None
    may_reset_password: bool


def service_connection(service: Service) -> list[tuple[str, str]]:
    """The details the module returned on create, as (label, value), those it did not return left out."""
    account = service.account if isinstance(service.account, dict) else {}
    rows = [(label, str(account[key])) for key, label in CONNECTION_FIELDS if str(account.get(key, "") or "")]
    if service.username:
        rows.append(("Username", service.username))
    return rows


def _setup_state(service: Service) -> SetupState | None:
    if service.status != Service.Status.PENDING:
        return None
    call = ModuleCall.objects.filter(idempotency_key=create_key(service)).only("status").first()
    if call is None:
        return SetupState.NOT_STARTED
    if call.status == ModuleCall.Status.RETRYING:
        return SetupState.RETRYING
    if call.status == ModuleCall.Status.FAILED:
        return SetupState.DELAYED
    return SetupState.IN_PROGRESS


def service_usage_latest(service: Service) -> ServiceUsageFacts | None:
    latest = ServiceUsage.objects.filter(service=service).order_by("-recorded_on").first()
    if latest is None or not isinstance(latest.figures, dict):
        return None
    limits = latest.limits if isinstance(latest.limits, dict) else {}
    figures = []
    for key, used in latest.figures.items():
        if not isinstance(used, int) or isinstance(used, bool):
            continue
        label, is_bytes = USAGE_FIGURES.get(key, (key.replace("_", " ").capitalize(), False))
        limit = limits.get(key)
        figures.append(UsageFigure(label, used, limit if isinstance(limit, int) and limit > 0 else None, is_bytes))
    return ServiceUsageFacts(latest.recorded_on, figures) if figures else None


def password_change_latest(service: Service) -> ModuleCall | None:
    return (
        ModuleCall.objects.filter(service=service, action=Action.CHANGE_PASSWORD.value)
        .only("status", "created_at", "finished_at", "service_id")
        .order_by("-pk")
        .first()
    )


def password_reset_possible(service: Service) -> bool:
    """Only an Active service whose module made an account with a password (a DNS zone has none)."""
    module_class = registry.module_class(service.module) if service.module else None
    return (
        service.status == Service.Status.ACTIVE
        and module_class is not None
        and module_class().supports(Action.CHANGE_PASSWORD)
        and bool(service.password_token)
    )


def password_reset_offered(service: Service, last_change: ModuleCall | None) -> bool:
    """The page offers a reset when one is possible and no earlier one is still on its way to the server."""
    in_flight = last_change is not None and last_change.status in _IN_FLIGHT
    return password_reset_possible(service) and not in_flight


def service_page(service: Service) -> ServicePage:
    last_change = password_change_latest(service) if service.module else None
    return ServicePage(
        connection=service_connection(service),
        setup=_setup_state(service),
        usage=service_usage_latest(service),
        last_password_change=last_change,
        may_reset_password=password_reset_offered(service, last_change),
    )
