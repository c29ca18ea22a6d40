"""What a registrar call gets: the domain's snapshot (its registrant from the client's details, the EPP code of a
transfer decrypted for this call only), the registrar's settings, and the call's own parameters, as plain values
(provisioning.registrars.base.RegistrarContext)."""

from __future__ import annotations

from core import crypto
from provisioning.domain_selectors import registrar_settings as registrar_settings_of
from provisioning.models import Domain, ModuleCall
from provisioning.modules.base import PermanentModuleError
from provisioning.queue.requests import call_params
from provisioning.registrars import registry
from provisioning.registrars.base import Contact, DomainSnapshot, RegistrarAction, RegistrarContext


def client_contact(client) -> Contact:
    return Contact(
        name=client.contact_name,
        email=client.email,
        organisation=client.company_name,
        phone=client.phone,
        street=tuple(line for line in (client.address_1, client.address_2) if line),
        city=client.city,
        state=client.state,
        postcode=client.postcode,
        country=str(client.country or ""),
    )


def domain_snapshot(domain: Domain) -> DomainSnapshot:
    """`domain` with its client loaded by the caller."""
    registrant = client_contact(domain.client)
    return DomainSnapshot(
        domain_id=domain.pk,
        name=domain.name,
        years=domain.registration_period,
        expiry_date=domain.expiry_date,
        nameservers=tuple(domain.nameservers or ()),
        registrant=registrant,
        contacts={"admin": registrant, "tech": registrant, "billing": registrant},
        epp_code=crypto.decrypt(domain.epp_code_token),
    )


def registrar_call_context(call: ModuleCall, domain: Domain, *, settings: dict) -> RegistrarContext:
    return RegistrarContext(
        action=RegistrarAction(call.action),
        idempotency_key=call.idempotency_key,
        settings=settings,
        domain=domain_snapshot(domain),
        params=call_params(call),
    )


def registrar_settings(name: str) -> dict:
    """The settings the registrar is configured with (its RegistrarConfig, secrets decrypted for this call), over
    its declared defaults. A configuration switched off refuses the call (permanent: it waits for an admin)."""
    registrar_class = registry.registrar_class(name)
    defaults = {setting.name: setting.default for setting in (registrar_class.settings if registrar_class else ())}
    found = registrar_settings_of(names=[name])[name]
    if not found.active:
        raise PermanentModuleError(
            f"The {name} registrar is switched off (Provisioning > Registrar configurations): nothing was asked."
        )
    return {**defaults, **found.values}
