"""Servers: their credentials (encrypted at rest, never rendered back), what a module sees of them, which one a new
account goes to, and the admin's connection test."""

from __future__ import annotations

import enum
import logging
import time
from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Count, Q
from django.utils import timezone

from core import crypto
from notifications.services import Actor, activity_record
from provisioning.models import Server, ServerGroup, Service
from provisioning.modules import registry
from provisioning.modules.base import (
    Action,
    ConnectionOk,
    ModuleContext,
    ModuleError,
    ServerInfo,
    SettingsInvalid,
    settings_clean,
)

logger = logging.getLogger("provisioning.servers")

# A service in one of these statuses holds an account on its server (or is about to: a Pending service that was
# given a server is counted, so two creates at once cannot both take the last place).
HOLDS_AN_ACCOUNT = [Service.Status.PENDING, Service.Status.ACTIVE, Service.Status.SUSPENDED]


def server_info(server: Server) -> ServerInfo:
    """What a module gets: the server's address and settings, with its credentials decrypted."""
    module_class = registry.module_class(server.module)
    return ServerInfo(
        id=server.pk,
        name=server.name,
        hostname=server.hostname,
        ip_address=server.ip_address or "",
        port=server.port or (module_class.default_port if module_class else None),
        secure=server.secure,
        username=server.username,
        credentials=crypto.decrypt_json(server.credentials_token),
        settings=dict(server.settings or {}),
    )


def server_credentials_names(server: Server) -> list[str]:
    """Which credentials are stored (their names only: the values are never shown again)."""
    return sorted(crypto.decrypt_json(server.credentials_token)) if server.credentials_token else []


def server_settings_clean(*, module: str, values: dict) -> dict:
    """The server settings checked against the module's declaration (SettingsInvalid otherwise)."""
    module_class = registry.module_class(module)
    if module_class is None:
        raise SettingsInvalid({"module": f"No provisioning module is named {module!r}."})
    return settings_clean(module_class.server_settings, values)


def server_credentials_merge(*, server: Server, given: dict[str, str]) -> str:
    """The new credentials token: each credential given replaces the stored one; one left blank keeps it (the
    form never shows a stored secret, so a blank field means "unchanged")."""
    stored = crypto.decrypt_json(server.credentials_token)
    for name, value in given.items():
        if value:
            stored[name] = value
    return crypto.encrypt_json(stored)


def accounts_on(server_ids: list[int]) -> dict[int, int]:
    """How many accounts each server holds (one query)."""
    rows = (
        Service.objects.filter(server_id__in=server_ids, status__in=HOLDS_AN_ACCOUNT)
        .values("server_id")
        .annotate(n=Count("id"))
    )
    return {row["server_id"]: row["n"] for row in rows}


class NoRoom(enum.Enum):
    NO_GROUP = "no_group"  # the product names no server group
    NO_SERVER = "no_server"  # the group has no active server of the product's module
    FULL = "full"  # every active server is at its maximum


@dataclass(frozen=True)
class Pick:
    server: Server | None
    no_room: NoRoom | None = None


def server_pick(*, group: ServerGroup | None, module: str) -> Pick:
    """The server a new account goes to, by the group's fill type: "fill the first until full" takes the first
    server (by name, then id) with room; "least full" the one with the fewest accounts. Only active servers of
    the module count. Locks the group's servers (in the caller's transaction) so two picks at once cannot both
    take a server's last place."""
    if group is None:
        return Pick(None, NoRoom.NO_GROUP)
    servers = list(
        Server.objects.select_for_update().filter(groups=group, is_active=True, module=module).order_by("name", "id")
    )
    if not servers:
        return Pick(None, NoRoom.NO_SERVER)
    held = accounts_on([server.pk for server in servers])
    with_room = [server for server in servers if held.get(server.pk, 0) < server.max_accounts]
    if not with_room:
        return Pick(None, NoRoom.FULL)
    if group.fill_type == ServerGroup.FillType.FILL_ACTIVE:
        return Pick(with_room[0])
    return Pick(min(with_room, key=lambda server: (held.get(server.pk, 0), server.name, server.pk)))


@dataclass(frozen=True)
class ConnectionTested:
    ok: bool
    message: str
    duration_ms: int


def server_test_connection(*, server_id: int, actor: Actor) -> ConnectionTested:
    """Ask the server's module to reach it with its credentials, now (the admin's "Test connection" button).
    The answer is kept on the server (last test) and in the activity log; nothing else changes."""
    server = Server.objects.get(pk=server_id)
    started = time.monotonic()
    try:
        module = registry.module_for(server.module)
        answer = module.call(ModuleContext(action=Action.TEST_CONNECTION, service=None, server=server_info(server)))
        ok, message = True, answer.message if isinstance(answer, ConnectionOk) else "Connected."
    except registry.UnknownModule as error:
        ok, message = False, str(error)
    except crypto.SecretUnreadable as error:
        ok, message = False, str(error)
    except ModuleError as error:
        ok, message = False, error.message
    except Exception:  # a module's bug must not be an admin's 500
        logger.exception("Testing the connection to server %s failed unexpectedly", server_id)
        ok, message = False, "The module failed unexpectedly; the error is in the portal's log."
    duration_ms = int((time.monotonic() - started) * 1000)
    with transaction.atomic():
        Server.objects.filter(pk=server_id).update(
            last_tested_at=timezone.now(), last_test_ok=ok, last_test_message=message[:2000]
        )
        activity_record(
            actor=actor,
            action="server_tested",
            subject=server,
            message=f"Tested the connection to {server}: {'ok' if ok else 'failed'}: {message}",
        )
    return ConnectionTested(ok, message, duration_ms)


def server_delete_blocker(*, server: Server) -> bool:
    """True while services hold accounts on the server: it must be emptied (or made inactive) instead."""
    return Service.objects.filter(Q(server=server) & Q(status__in=HOLDS_AN_ACCOUNT)).exists()


def group_validate(*, group: ServerGroup) -> None:
    if not group.name.strip():
        raise ValidationError("A server group needs a name.")
