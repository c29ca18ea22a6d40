"""What the admin's accept form offers for each Pending service: the active servers of its module (blank: the
product's group picks one when the create runs) and the username its module suggests."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from provisioning.models import Server, Service
from provisioning.modules import registry
from provisioning.modules.base import ModuleError, ServiceSnapshot


@dataclass(frozen=True)
class SetupChoices:
    module_label: str
    servers: tuple[tuple[int, str], ...]  # (id, label) of the module's active servers
    suggested_username: str


def setup_choices(services: Iterable[Service]) -> dict[int, SetupChoices]:
    """Per service with an installed module, by id (one query for the servers of all their modules)."""
    services = [service for service in services if service.module and registry.module_class(service.module)]
    servers: dict[str, list[tuple[int, str]]] = {}
    for server in Server.objects.filter(module__in={s.module for s in services}, is_active=True).order_by("name"):
        servers.setdefault(server.module, []).append((server.pk, str(server)))
    choices = {}
    for service in services:
        module = registry.module_for(service.module)
        snapshot = ServiceSnapshot(
            service_id=service.pk, client_id=service.client_id, product_name="", domain=service.domain
        )
        choices[service.pk] = SetupChoices(
            module_label=module.label,
            servers=tuple(servers.get(service.module, ())),
            suggested_username=service.username or module.suggest_username(snapshot),
        )
    return choices


def username_problem(service: Service, username: str) -> str:
    """Why the service's module refuses `username` ("" when it takes it)."""
    module_class = registry.module_class(service.module)
    if module_class is None or not username:
        return ""
    try:
        module_class().check_name(username)
    except ModuleError as error:
        return error.message
    return ""
