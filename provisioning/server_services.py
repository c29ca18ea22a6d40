"""Saving a server: its plain fields, its module's server settings checked against the declaration, its
credentials merged (a blank one keeps the stored value) and encrypted, and an activity row naming what changed,
never a secret's value. Deleting one is refused while it holds accounts."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction

from core import crypto
from notifications.services import Actor, activity_record
from provisioning.models import Server
from provisioning.modules import registry
from provisioning.modules.base import SettingsInvalid, SettingType, settings_clean
from provisioning.servers import server_credentials_merge, server_delete_blocker

PLAIN_FIELDS = (
    "name",
    "hostname",
    "ip_address",
    "port",
    "secure",
    "module",
    "username",
    "max_accounts",
    "is_active",
    "notes",
)


@dataclass(frozen=True)
class ServerSaved:
    server: Server
    created: bool
    changed: tuple[str, ...]  # field names; a credential as "credential <name>", never its value


def _declared_credentials(module_class) -> set[str]:
    names = {setting.name for setting in module_class.credential_fields} if module_class else set()
    # A server setting declared secret is kept with the credentials: encrypted, never in the plain settings.
    names |= {s.name for s in (module_class.server_settings if module_class else ()) if s.type is SettingType.SECRET}
    return names


def server_save(
    *,
    server_id: int | None,
    fields: dict[str, Any],
    settings: dict[str, Any],
    credentials: dict[str, str],
    group_ids: list[int] | None,
    actor: Actor,
) -> ServerSaved:
    """Create (server_id None) or update a server. `settings` are the module's server settings as entered (a blank
    secret keeps the stored one), `credentials` the secrets entered (blank: keep). Refused with a ValidationError
    keyed by field, writing nothing, when the module is unknown or a setting does not match its declaration."""
    unknown = set(fields) - set(PLAIN_FIELDS)
    if unknown:
        raise ValueError(f"server_save does not set {sorted(unknown)}")
    with transaction.atomic():
        if server_id is None:
            server, created = Server(), True
        else:
            server, created = Server.objects.select_for_update().get(pk=server_id), False
        module = fields.get("module", server.module) or ""
        module_class = registry.module_class(module) if module else None
        if module and module_class is None:
            raise ValidationError({"module": f"No provisioning module is named {module!r}."})
        stored_credentials = crypto.decrypt_json(server.credentials_token) if server.credentials_token else {}
        declared = module_class.server_settings if module_class else ()
        plain_declared = tuple(setting for setting in declared if setting.type is not SettingType.SECRET)
        secret_declared = tuple(setting for setting in declared if setting.type is SettingType.SECRET)
        try:
            new_settings = settings_clean(plain_declared, settings)
            # A secret server setting: required ones count the stored value as given.
            secret_values = {
                setting.name: settings.get(setting.name) or stored_credentials.get(setting.name, "")
                for setting in secret_declared
            }
            settings_clean(secret_declared, secret_values)
        except SettingsInvalid as invalid:
            raise ValidationError(dict(invalid.errors.items())) from None

        changed: list[str] = []
        for name, value in fields.items():
            if getattr(server, name) != value:
                setattr(server, name, value)
                changed.append(name)
        if (server.settings or {}) != new_settings:
            server.settings = new_settings
            changed.append("settings")
        allowed = _declared_credentials(module_class)
        given = {
            name: value
            for name, value in {**credentials, **{s.name: settings.get(s.name) or "" for s in secret_declared}}.items()
            if name in allowed
        }
        merged = crypto.decrypt_json(server_credentials_merge(server=server, given=given))
        merged = {name: value for name, value in merged.items() if name in allowed}
        for name in sorted(set(merged) | set(stored_credentials)):
            if merged.get(name) != stored_credentials.get(name):
                changed.append(f"credential {name}")
        if merged != stored_credentials or created:
            server.credentials_token = crypto.encrypt_json(merged) if merged else ""
        try:
            server.full_clean(exclude=["groups", "credentials_token"])
        except ValidationError as invalid:
            raise ValidationError(invalid.message_dict) from None
        server.save()
        if group_ids is not None:
            before = set(server.groups.values_list("pk", flat=True))
            if before != set(group_ids):
                server.groups.set(group_ids)
                changed.append("groups")
        if created or changed:
            activity_record(
                actor=actor,
                action="server_created" if created else "server_changed",
                subject=server,
                message=(f"Added server {server}" if created else f"Changed server {server}")
                + (f": {', '.join(changed)}." if changed else "."),
            )
    return ServerSaved(server, created, tuple(changed))


def server_delete(*, server_id: int, actor: Actor) -> None:
    """Remove a server that holds no accounts; refused (ValidationError) while services hold one on it."""
    with transaction.atomic():
        server = Server.objects.select_for_update().get(pk=server_id)
        if server_delete_blocker(server=server):
            raise ValidationError(
                f"{server} still holds accounts: move or end its services first, or make it inactive."
            )
        activity_record(actor=actor, action="server_deleted", subject=server, message=f"Deleted server {server}.")
        server.delete()
