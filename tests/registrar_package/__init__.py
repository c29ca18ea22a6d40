"""A third-party registrar package as a provider would write one: named in PORTAL_REGISTRAR_PACKAGES (the test
settings), it registers its registrar when imported. It answers from a dictionary of names it holds, so tests can
drive availability, a taken name and a refusal without a registry."""

from __future__ import annotations

import datetime
import time

from provisioning.modules.base import Setting, SettingType
from provisioning.registrars.base import (
    Availability,
    ContactsSaved,
    DomainSync,
    DomainTaken,
    EppCode,
    Lock,
    Nameservers,
    PermanentRegistrarError,
    Registered,
    Registrar,
    RegistrarAction,
    RegistrarContext,
    RegistryStatus,
    TransferState,
    TransferSync,
    TransientRegistrarError,
)
from provisioning.registrars.registry import register

HELD: dict[str, datetime.date] = {}  # name -> expiry date, the names this registrar holds for us
TAKEN: set[str] = {"taken.example"}  # names someone else holds
FAULTS: list[Exception] = []  # raised by the next calls, one each, before anything is done
CALLS: list[tuple[str, str]] = []  # (action, idempotency key) of every call received
EPP_CODE = "Secret-EPP-1"
SYNC_ANSWERS: dict[str, DomainSync] = {}  # name -> what sync answers (default: Active, the portal's own date)
TRANSFER_ANSWERS: dict[str, TransferSync] = {}  # name -> what transfer sync answers (default: still pending)
REFUSED_HOSTS: set[str] = {"ns.unknown.example"}  # nameservers the registry refuses
CONTACTS: dict[str, dict] = {}  # name -> the registrant last saved
DOWN: set[str] = set()  # names whose check fails as a registry that does not answer
SLOW: dict[str, float] = {}  # names whose check takes this many seconds
SEEN_SETTINGS: list[dict] = []  # the settings each check was given
BROKEN: set[str] = set()  # names whose saved nameservers come back as bytes (a registrar's bug the portal cannot store)


def reset() -> None:
    HELD.clear()
    FAULTS.clear()
    CALLS.clear()
    SYNC_ANSWERS.clear()
    TRANSFER_ANSWERS.clear()
    CONTACTS.clear()
    DOWN.clear()
    SLOW.clear()
    SEEN_SETTINGS.clear()
    BROKEN.clear()


@register
class ScriptedRegistrar(Registrar):
    name = "scripted_registrar"
    label = "Scripted registrar (tests)"
    settings = (
        Setting("region", "Region", default="eu"),
        Setting("password", "Password", type=SettingType.SECRET),
    )
    actions = frozenset(
        {
            RegistrarAction.CHECK,
            RegistrarAction.REGISTER,
            RegistrarAction.RENEW,
            RegistrarAction.GET_EPP_CODE,
            RegistrarAction.SYNC,
            RegistrarAction.TRANSFER_SYNC,
            RegistrarAction.SAVE_NAMESERVERS,
            RegistrarAction.SAVE_LOCK,
            RegistrarAction.SAVE_CONTACTS,
        }
    )

    def save_nameservers(self, context: RegistrarContext) -> Nameservers:
        hosts = tuple(context.params["nameservers"])
        refused = [host for host in hosts if host in REFUSED_HOSTS]
        if refused:
            raise PermanentRegistrarError(
                f"2303 Object does not exist: host {refused[0]}",
                client_message=f"The registry does not know the nameserver {refused[0]}.",
                code=2303,
            )
        if context.domain.name in BROKEN:
            return Nameservers(hosts=tuple(host.encode() for host in hosts))
        return Nameservers(hosts=hosts)

    def save_lock(self, context: RegistrarContext) -> Lock:
        return Lock(locked=bool(context.params["locked"]))

    def save_contacts(self, context: RegistrarContext) -> ContactsSaved:
        CONTACTS[context.domain.name] = dict(context.params["registrant"])
        return ContactsSaved(message="Contact updated.")

    def sync(self, context: RegistrarContext) -> DomainSync:
        default = DomainSync(status=RegistryStatus.ACTIVE, expiry_date=context.domain.expiry_date)
        return SYNC_ANSWERS.get(context.domain.name, default)

    def transfer_sync(self, context: RegistrarContext) -> TransferSync:
        return TRANSFER_ANSWERS.get(context.domain.name, TransferSync(state=TransferState.PENDING))

    def call(self, context: RegistrarContext):
        CALLS.append((context.action.value, context.idempotency_key))
        if FAULTS:
            raise FAULTS.pop(0)
        return super().call(context)

    def renew(self, context: RegistrarContext) -> Registered:
        """The registry's own date: one day past the paid period's, so a test sees whose date the portal kept."""
        current = context.domain.expiry_date or datetime.date(2030, 1, 1)
        years = int(context.params.get("years") or 1)
        return Registered(expiry_date=current.replace(year=current.year + years) + datetime.timedelta(days=1))

    def get_epp_code(self, context: RegistrarContext) -> EppCode:
        return EppCode(code=EPP_CODE, message="Here it is.")

    def check(self, context: RegistrarContext) -> Availability:
        name = context.domain.name
        SEEN_SETTINGS.append(dict(context.settings))
        if name in SLOW:
            time.sleep(SLOW[name])
        if name in DOWN:
            raise TransientRegistrarError(f"The registry did not answer the check of {name}.")
        taken = name in TAKEN or name in HELD
        return Availability(name=name, available=not taken, reason="In use" if taken else "")

    def register(self, context: RegistrarContext) -> Registered:
        name = context.domain.name
        if name in HELD:
            return Registered(expiry_date=HELD[name], found_existing=True, message="Already ours.")
        if name in TAKEN:
            raise DomainTaken(f"2302 Object exists: {name}", client_message=f"{name} is taken.", code=2302)
        expiry = datetime.date(2030, 1, 1).replace(year=2029 + context.domain.years)
        HELD[name] = expiry
        return Registered(expiry_date=expiry, message="Registered.")
