"""Manual: no registry is driven. Each writing action files a to-do for an admin, who does it at the registry by
hand and marks the to-do done; a registration, transfer or renewal is done only when the admin gives the new expiry
date (the domain stays Pending Registration / Pending Transfer, or keeps its old expiry, until then). Reads answer
with what the portal knows, since there is nothing else to ask."""

from __future__ import annotations

from provisioning.modules.base import Setting
from provisioning.registrars.base import (
    ContactsSaved,
    EppCode,
    Lock,
    Nameservers,
    Registered,
    Registrar,
    RegistrarAction,
    RegistrarContext,
    TransferRequested,
    TransferState,
)
from provisioning.registrars.registry import register


def _years(n: int) -> str:
    return f"{n} year{'' if n == 1 else 's'}"


@register
class ManualRegistrar(Registrar):
    name = "manual"
    label = "Manual (an admin does it at the registry)"
    checks_availability = False
    settings = (
        Setting(
            "instructions",
            "Instructions",
            help="Shown on each to-do: where and how the admin registers, renews or transfers a domain.",
            max_length=500,
        ),
    )
    actions = frozenset(
        {
            RegistrarAction.REGISTER,
            RegistrarAction.TRANSFER,
            RegistrarAction.RENEW,
            RegistrarAction.GET_NAMESERVERS,
            RegistrarAction.SAVE_NAMESERVERS,
            RegistrarAction.SAVE_LOCK,
            RegistrarAction.GET_EPP_CODE,
            RegistrarAction.SAVE_CONTACTS,
        }
    )

    def _todo(self, context: RegistrarContext, words: str) -> str:
        instructions = context.settings.get("instructions") or ""
        return f"{words}" + (f". {instructions}" if instructions else ".")

    def register(self, context: RegistrarContext) -> Registered:
        domain = context.domain
        nameservers = ", ".join(domain.nameservers) or "the registrar's default nameservers"
        return Registered(
            expiry_date=None,
            message="Filed a to-do for an admin to register the domain by hand.",
            todo=self._todo(
                context, f"Register {domain.name} for {_years(domain.years)} with nameservers {nameservers}"
            ),
        )

    def transfer(self, context: RegistrarContext) -> TransferRequested:
        # The EPP code is never written into a to-do (it is a secret): the domain's admin page shows it on demand.
        return TransferRequested(
            state=TransferState.PENDING,
            message="Filed a to-do for an admin to request the transfer by hand.",
            todo=self._todo(
                context,
                f"Transfer {context.domain.name} in for {_years(context.domain.years)} with the domain's EPP code "
                "(Show EPP code on the domain's page; if none is kept, ask the client for it)",
            ),
        )

    def renew(self, context: RegistrarContext) -> Registered:
        years = int(context.params.get("years") or context.domain.years or 1)
        return Registered(
            expiry_date=None,
            message="Filed a to-do for an admin to renew the domain by hand.",
            todo=self._todo(context, f"Renew {context.domain.name} for {_years(years)}"),
        )

    def get_nameservers(self, context: RegistrarContext) -> Nameservers:
        return Nameservers(hosts=context.domain.nameservers, message="As the portal has them (manual registrar).")

    def save_nameservers(self, context: RegistrarContext) -> Nameservers:
        hosts = tuple(context.params.get("nameservers") or ())
        return Nameservers(
            hosts=hosts,
            message="Filed a to-do to change the nameservers by hand.",
            todo=self._todo(context, f"Set the nameservers of {context.domain.name} to {', '.join(hosts)}"),
        )

    def save_lock(self, context: RegistrarContext) -> Lock:
        locked = bool(context.params.get("locked"))
        return Lock(
            locked=locked,
            message="Filed a to-do to change the lock by hand.",
            todo=self._todo(context, f"{'Lock' if locked else 'Unlock'} {context.domain.name} at the registry"),
        )

    def get_epp_code(self, context: RegistrarContext) -> EppCode:
        return EppCode(
            code="",
            message="Filed a to-do to send the EPP code by hand.",
            todo=self._todo(context, f"Get the EPP code of {context.domain.name} and email it to the client"),
        )

    def save_contacts(self, context: RegistrarContext) -> ContactsSaved:
        return ContactsSaved(
            message="Filed a to-do to change the contacts by hand.",
            todo=self._todo(context, f"Update the contacts of {context.domain.name} (shown on the domain's page)"),
        )
