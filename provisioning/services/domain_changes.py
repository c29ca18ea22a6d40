"""A client's (or an admin's) change to a domain at its registrar: nameservers, the transfer lock, the EPP code
(emailed to the owner, shown nowhere) and the contacts. Each goes through the module queue as a registrar call;
nothing changes on the domain until the registrar has done it (queue.registrar_effects), and a refusal is kept on
the call in the registrar's plain words for the client area to show. Bad input is refused before anything is
asked. The form's one-time nonce makes a double submit one call."""

from __future__ import annotations

import enum
from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.db import transaction

from core.domain_names import normalize_domain_name
from notifications.services import Actor
from provisioning.models import Domain, ModuleCall
from provisioning.queue.requests import (
    domain_action_key,
    registrar_call_request,
    registrar_offers,
    registration_key,
)
from provisioning.registrars import registry
from provisioning.registrars.base import RegistrarAction, valid_host_name
from provisioning.services.common import item_log
from provisioning.services.domains import domain_activate

MIN_NAMESERVERS, MAX_NAMESERVERS = 2, 13
# The domain's states in which its registrar holds it and takes changes.
CHANGEABLE = (Domain.Status.ACTIVE,)


class DomainChange(enum.StrEnum):
    NAMESERVERS = RegistrarAction.SAVE_NAMESERVERS.value
    LOCK = RegistrarAction.SAVE_LOCK.value
    EPP_CODE = RegistrarAction.GET_EPP_CODE.value
    CONTACTS = RegistrarAction.SAVE_CONTACTS.value


CHANGE_WORDS = {
    DomainChange.NAMESERVERS: "nameserver change",
    DomainChange.LOCK: "transfer lock change",
    DomainChange.EPP_CODE: "EPP code request",
    DomainChange.CONTACTS: "contact change",
}

CONTACT_FIELDS = ("name", "organisation", "email", "phone", "street", "city", "state", "postcode", "country")


@dataclass(frozen=True)
class ChangeAsked:
    call: ModuleCall
    created: bool  # False: the same form was submitted twice, and the first one's call stands


def nameservers_clean(lines: list[str]) -> list[str]:
    """Host names, normalised (lower case, A-labels, no trailing dot), in order, each once; 2 to 13 of them."""
    hosts: list[str] = []
    for line in lines:
        line = (line or "").strip()
        if not line:
            continue
        try:
            host = normalize_domain_name(line)
        except ValidationError:
            raise ValidationError(f"{line[:80]!r} is not a host name (for example ns1.example.net).") from None
        if not valid_host_name(host):
            raise ValidationError(f"{line[:80]!r} is not a host name (for example ns1.example.net).")
        if host not in hosts:
            hosts.append(host)
    if not MIN_NAMESERVERS <= len(hosts) <= MAX_NAMESERVERS:
        raise ValidationError(f"Give between {MIN_NAMESERVERS} and {MAX_NAMESERVERS} nameservers, one per line.")
    return hosts


def _contact_clean(contact: dict) -> dict:
    cleaned = {name: str(contact.get(name) or "").strip() for name in CONTACT_FIELDS}
    if not cleaned["name"] or not cleaned["email"]:
        raise ValidationError("A contact needs a name and an email address.")
    if len(cleaned["country"]) != 2 or not cleaned["country"].isalpha():
        raise ValidationError("Give the contact's country as its two-letter code (for example DE).")
    cleaned["country"] = cleaned["country"].upper()
    return cleaned


def domain_change_request(
    *, domain_id: int, change: DomainChange, actor: Actor, nonce: str, value=None, client_id: int | None = None
) -> ChangeAsked:
    """Ask the domain's registrar for `change` (`value`: the nameserver lines, the lock wanted, or the contact).
    `client_id` (the client area) keeps a client to their own domains. Refused with a ValidationError, nothing
    asked, when the domain is not Active, its registrar does not take the change, or the value is bad."""
    with transaction.atomic():
        domains = Domain.objects.select_for_update(of=("self",)).filter(pk=domain_id)
        if client_id is not None:
            domains = domains.filter(client_id=client_id)
        domain = domains.select_related("client").first()
        if domain is None:
            raise ValidationError("No such domain.")
        if domain.status not in CHANGEABLE:
            raise ValidationError(f"{domain} is {domain.get_status_display()}: its registrar takes no change now.")
        if change is DomainChange.NAMESERVERS:
            params = {"nameservers": nameservers_clean(list(value or []))}
        elif change is DomainChange.LOCK:
            params = {"locked": bool(value)}
        elif change is DomainChange.CONTACTS:
            params = {"registrant": _contact_clean(dict(value or {}))}
        else:
            params = {}
        action = RegistrarAction(change.value)
        requested = registrar_call_request(
            domain=domain, action=action, actor=actor, key=domain_action_key(domain.pk, action, nonce), params=params
        )
        if requested.created:
            item_log(actor, "domain_change_asked", domain, f"{domain}: {CHANGE_WORDS[change]} asked of the registrar")
    return ChangeAsked(requested.call, requested.created)


def domain_changes_latest(domain: Domain) -> dict[DomainChange, ModuleCall]:
    """The latest call of each kind of change for this domain, for its page (one query)."""
    latest: dict[DomainChange, ModuleCall] = {}
    calls = (
        ModuleCall.objects.filter(domain=domain, action__in=[c.value for c in DomainChange])
        .select_related("todo")
        .order_by("-pk")[:50]
    )
    for call in calls:
        latest.setdefault(DomainChange(call.action), call)
    return latest


# An admin's registrar actions on a domain's page: the statuses each is possible from.
ADMIN_ACTIONS: dict[RegistrarAction, tuple[str, ...]] = {
    RegistrarAction.REGISTER: (Domain.Status.PENDING_REGISTRATION,),
    # Pending: a transfer the registry refused (transfer_failed), sent again, often with a new EPP code.
    RegistrarAction.TRANSFER: (Domain.Status.PENDING_TRANSFER, Domain.Status.PENDING),
    RegistrarAction.RENEW: (Domain.Status.ACTIVE, Domain.Status.EXPIRED),
    RegistrarAction.SYNC: (Domain.Status.ACTIVE, Domain.Status.EXPIRED, Domain.Status.PENDING_REGISTRATION),
    RegistrarAction.TRANSFER_SYNC: (Domain.Status.PENDING_TRANSFER,),
    RegistrarAction.GET_NAMESERVERS: (Domain.Status.ACTIVE,),
    RegistrarAction.SAVE_NAMESERVERS: (Domain.Status.ACTIVE,),
    RegistrarAction.GET_LOCK: (Domain.Status.ACTIVE,),
    RegistrarAction.SAVE_LOCK: (Domain.Status.ACTIVE,),
    RegistrarAction.GET_EPP_CODE: (Domain.Status.ACTIVE,),
    RegistrarAction.SAVE_CONTACTS: (Domain.Status.ACTIVE,),
}


def _transfer_sendable(domain: Domain) -> bool:
    """A transfer in the admin may send from the domain's page: on its way (Pending Transfer), or Pending again
    because the registry refused an earlier round after taking its request. A Pending transfer never sent waits
    for its order's accept (or for its payment), not for this button."""
    if domain.registration_type != Domain.RegistrationType.TRANSFER:
        return False
    if domain.status != Domain.Status.PENDING:
        return True
    return ModuleCall.objects.filter(
        domain=domain, action=RegistrarAction.TRANSFER.value, status=ModuleCall.Status.SUCCEEDED
    ).exists()


def admin_action_possible(domain: Domain, action: RegistrarAction) -> bool:
    """Whether the domain's status allows `action` and its registrar offers it (the page's buttons)."""
    if domain.status not in ADMIN_ACTIONS.get(action, ()) or not domain.registrar:
        return False
    if action is RegistrarAction.TRANSFER and not _transfer_sendable(domain):
        return False
    registrar_class = registry.registrar_class(domain.registrar)
    return registrar_class is not None and action in registrar_class.actions


def domain_registrar_ask(
    *, domain_id: int, action: RegistrarAction, actor: Actor, nonce: str, params: dict | None = None
) -> ChangeAsked:
    """An admin asks the domain's registrar for `action` through the module queue. A register or transfer has
    its round's key (asked twice, it is one call: retry a failed one from the queue); every other action is one
    call per form (`nonce`). Changes go through domain_change_request's checks. Refused (ValidationError, nothing
    asked) when the status or the registrar does not allow it, or a value is bad."""
    if action.value in {change.value for change in DomainChange}:
        change = DomainChange(action.value)
        value = {
            DomainChange.NAMESERVERS: (params or {}).get("nameservers"),
            DomainChange.LOCK: (params or {}).get("locked"),
            DomainChange.CONTACTS: (params or {}).get("registrant"),
        }.get(change)
        return domain_change_request(domain_id=domain_id, change=change, actor=actor, nonce=nonce, value=value)
    with transaction.atomic():
        domain = Domain.objects.select_for_update(of=("self",)).select_related("client").get(pk=domain_id)
        if domain.status not in ADMIN_ACTIONS.get(action, ()):
            raise ValidationError(
                f"{domain} is {domain.get_status_display()}: {action.value.replace('_', ' ')} is not possible now."
            )
        if action is RegistrarAction.TRANSFER and domain.registration_type != Domain.RegistrationType.TRANSFER:
            raise ValidationError(f"{domain} was ordered as a registration, not a transfer in.")
        if action is RegistrarAction.TRANSFER and not _transfer_sendable(domain):
            raise ValidationError(
                f"{domain} has not been sent yet: it goes to the registrar when its order is accepted."
            )
        if action is RegistrarAction.TRANSFER and domain.status == Domain.Status.PENDING:
            # Sent again after the registry refused it: Pending Transfer, with this round's transfer call.
            registrar_offers(domain, domain.registrar, action)
            sent = domain_activate(domain=domain, send_to_registrar=True, actor=actor)
            return ChangeAsked(ModuleCall.objects.get(pk=sent.call_id), True)
        params = dict(params or {})
        if action is RegistrarAction.RENEW:
            years = params.get("years")
            if not isinstance(years, int) or not 1 <= years <= 10:
                raise ValidationError("Renew for one to ten years.")
        if action in (RegistrarAction.REGISTER, RegistrarAction.TRANSFER):
            key = registration_key(domain, action)
        else:
            key = domain_action_key(domain.pk, action, nonce)
        requested = registrar_call_request(domain=domain, action=action, actor=actor, key=key, params=params)
        if requested.created:
            item_log(actor, "domain_registrar_asked", domain, f"{domain}: {action.value.replace('_', ' ')} asked")
    return ChangeAsked(requested.call, requested.created)
