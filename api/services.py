"""Creating and checking API credentials. A secret is generated here, returned once and stored as its SHA-256."""

from __future__ import annotations

import datetime
import hashlib
import hmac
import ipaddress
import secrets
from dataclasses import dataclass

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from api.models import ApiCredential, Area, Grant
from billing.models import Client
from notifications.services import Actor, activity_record

NAME_MAX = 100
# last_used_at is written at most this often: a write on every call would make each read a write.
LAST_USED_EVERY = datetime.timedelta(minutes=1)


@dataclass(frozen=True)
class NewCredential:
    credential: ApiCredential
    secret: str  # shown this once; only its hash is kept


class ApiAuthFailed(Exception):
    """Why a request's credential was refused: said to the caller as it is (it names no other credential)."""


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _networks(raw: list[str] | tuple[str, ...]) -> list[str]:
    networks = []
    for value in raw:
        try:
            networks.append(str(ipaddress.ip_network(str(value).strip(), strict=False)))
        except ValueError:
            raise ValidationError(
                f"{value!r} is not an IP address or network (e.g. 203.0.113.7 or 10.0.0.0/8)."
            ) from None
    return networks


def api_credential_create(
    *,
    name: str,
    actor: Actor,
    read_only: bool = False,
    client_id: int | None = None,
    allowed_ips: list[str] | tuple[str, ...] = (),
) -> NewCredential:
    """A credential with every area granted (read only: read), acting through a user of its own. Refused
    (ValidationError, nothing written) for a blank, long or taken name, an unknown client or a bad address."""
    name = (name or "").strip()
    if not name or len(name) > NAME_MAX or not name.isprintable():
        raise ValidationError(f"Give the credential a name of 1 to {NAME_MAX} printable characters.")
    networks = _networks(allowed_ips)
    if client_id is not None and not Client.objects.filter(pk=client_id).exists():
        raise ValidationError(f"There is no client {client_id}.")
    grant = Grant.READ if read_only else Grant.ACTIONS
    secret = secrets.token_urlsafe(32)
    try:
        with transaction.atomic():
            user = get_user_model().objects.create_user(username=f"api:{name}"[:150], password=None)
            credential = ApiCredential.objects.create(
                name=name,
                identifier=secrets.token_hex(16),
                secret_hash=_hash(secret),
                user=user,
                grants={area.value: grant.value for area in Area},
                client_id=client_id,
                allowed_ips=networks,
            )
            scope = f", limited to client #{client_id}" if client_id else ""
            activity_record(
                actor=actor,
                action="api_credential_created",
                subject=credential,
                client_id=client_id,
                message=f"API credential {name} created ({grant.label.lower()} in every area{scope})",
            )
    except IntegrityError:
        raise ValidationError(f"An API credential (or user) named {name!r} exists already.") from None
    return NewCredential(credential, secret)


def api_credential_authenticate(*, identifier: str, secret: str, address: str | None) -> ApiCredential:
    """The active credential with this identifier and secret, called from an address it allows; else
    ApiAuthFailed. The secret is compared in constant time; a wrong one and an unknown identifier read alike."""
    credential = (
        ApiCredential.objects.select_related("user").filter(identifier=identifier, is_active=True).first()
        if identifier
        else None
    )
    if credential is None or not secret or not hmac.compare_digest(credential.secret_hash, _hash(secret)):
        raise ApiAuthFailed("The identifier and secret do not match an active API credential.")
    if credential.allowed_ips and not _address_allowed(address, credential.allowed_ips):
        raise ApiAuthFailed(f"This credential may not be used from {address or 'an unknown address'}.")
    now = timezone.now()
    if credential.last_used_at is None or now - credential.last_used_at > LAST_USED_EVERY:
        ApiCredential.objects.filter(pk=credential.pk).update(last_used_at=now)
    return credential


def _address_allowed(address: str | None, networks: list[str]) -> bool:
    try:
        ip = ipaddress.ip_address(address or "")
    except ValueError:
        return False
    return any(ip in ipaddress.ip_network(network) for network in networks)


def api_credentials_deactivate(*, credential_ids: list[int], actor: Actor) -> int:
    """Switch credentials off (their calls are refused from now on); each one switched is in the activity log."""
    with transaction.atomic():
        credentials = list(
            ApiCredential.objects.select_for_update().filter(pk__in=credential_ids, is_active=True).order_by("pk")
        )
        for credential in credentials:
            credential.is_active = False
            credential.save(update_fields=["is_active"])
            activity_record(
                actor=actor,
                action="api_credential_deactivated",
                subject=credential,
                client_id=credential.client_id,
                message=f"API credential {credential.name} switched off",
            )
    return len(credentials)
