"""The registrar interface: what the portal hands a registrar, and what it gets back.

A registrar drives one way of registering domains: an EPP registry (RFC 5730-5734), or a person doing it by hand
(Manual). Like a provisioning module it never touches the portal's database: each call gets a `RegistrarContext`
of plain values (the domain's snapshot, the registrar's settings with their secrets decrypted, the action's own
parameters, the idempotency key) and returns a typed result, or raises a `RegistrarError` marked transient (worth
retrying: the registry did not answer, its session limit was reached) or permanent (retrying changes nothing: the
name is taken, the EPP code is wrong), with a message an admin can act on and a client can be shown
(`client_message`: plain words, no protocol detail).

Every action must be safe to repeat for the same domain: the queue may deliver a call again after a worker died
inside it, so a second `register` of a name this registrar already holds for us succeeds (`found_existing`), and
a second `renew` for the same expiry year renews nothing twice (the registry's current expiry date is passed, as
EPP's renew command requires, so a repeated renew is refused by the registry rather than applied twice).

Registrars reuse the modules' errors and declared settings (provisioning.modules.base): the queue that runs
module calls runs registrar calls with the same retries and the same admin queue.
"""

from __future__ import annotations

import datetime
import enum
import re
from dataclasses import dataclass, field
from typing import Any, ClassVar

from provisioning.modules.base import ModuleError, NotSupported, Setting, TransientModuleError


class RegistrarAction(enum.StrEnum):
    CHECK = "check"  # availability
    REGISTER = "register"
    TRANSFER = "transfer"
    RENEW = "renew"
    GET_NAMESERVERS = "get_nameservers"
    SAVE_NAMESERVERS = "save_nameservers"
    GET_LOCK = "get_lock"
    SAVE_LOCK = "save_lock"
    GET_EPP_CODE = "get_epp_code"
    SAVE_CONTACTS = "save_contacts"
    SYNC = "sync"  # expiry date and status
    TRANSFER_SYNC = "transfer_sync"  # a transfer in progress: completed, or failed with its reason

    @property
    def event_suffix(self) -> str:
        """CamelCase for the event names: PreRegistrarRegister, AfterRegistrarSaveNameserversFailed."""
        return "".join(part.capitalize() for part in self.value.split("_"))


# Actions that change something at the registry (a repeated one must be idempotent); the others only read.
WRITING_ACTIONS = frozenset(
    {
        RegistrarAction.REGISTER,
        RegistrarAction.TRANSFER,
        RegistrarAction.RENEW,
        RegistrarAction.SAVE_NAMESERVERS,
        RegistrarAction.SAVE_LOCK,
        RegistrarAction.SAVE_CONTACTS,
    }
)


# --- Errors -------------------------------------------------------------------------------------------------


class RegistrarError(ModuleError):
    """A registrar call that did not do what it was asked. `client_message` is what a client may read (the
    client area shows it when their own change is refused); `message` is the admin's, with the registry's code."""

    def __init__(self, message: str, *, client_message: str = "", transient: bool | None = None, code: int = 0):
        super().__init__(message, transient=transient)
        self.client_message = client_message or "The registrar refused the change."
        self.code = code


class TransientRegistrarError(RegistrarError):
    transient = True


class PermanentRegistrarError(RegistrarError):
    transient = False


class DomainTaken(PermanentRegistrarError):
    """The name is registered to someone else (EPP 2302 on create, or unavailable on check)."""


class WrongEppCode(PermanentRegistrarError):
    """The authorization code given for a transfer (or an update) is not the domain's (EPP 2201/2202)."""


# TransientModuleError and NotSupported work for registrars as they do for modules: re-exported for them.
__all__ = [
    "NotSupported",
    "TransientModuleError",
]


# --- What a call is given ---------------------------------------------------------------------------------------

# A host name: labels of letters, digits and hyphens (IDNs arrive as their A-label, xn--), 1-63 each, at most 253.
_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")


def valid_host_name(name: str) -> bool:
    """Whether `name` (lower case, no trailing dot) is a syntactically valid host or domain name of two labels or
    more. The registry has the last word; this keeps markup, spaces and path characters from ever reaching it."""
    if not name or len(name) > 253 or name != name.lower():
        return False
    labels = name.split(".")
    return len(labels) >= 2 and all(_LABEL.match(label) for label in labels)


@dataclass(frozen=True)
class Contact:
    """A domain contact (registrant, admin, tech, billing), from the client's details or an admin's edit."""

    name: str
    email: str
    organisation: str = ""
    phone: str = ""  # E.164-like, "+1.5555550100" as EPP writes it
    street: tuple[str, ...] = ()
    city: str = ""
    state: str = ""
    postcode: str = ""
    country: str = ""  # ISO 3166-1 alpha-2


@dataclass(frozen=True)
class DomainSnapshot:
    """What a registrar needs to know of a domain; plain values, no model."""

    domain_id: int
    name: str  # the A-label (xn--...) for an IDN, lower case, no trailing dot
    years: int = 1
    expiry_date: datetime.date | None = None  # as the portal knows it (the registry's is asked by sync)
    nameservers: tuple[str, ...] = ()
    registrant: Contact | None = None
    contacts: dict[str, Contact] = field(default_factory=dict)  # "admin", "tech", "billing"
    epp_code: str = ""  # for a transfer in: the code the client gave (decrypted for this call only)
    registrar_handle: str = ""  # the registry's id for the domain or its registrant, when a registrar keeps one

    @property
    def tld(self) -> str:
        """The part after the first label: "co.uk" for example.co.uk."""
        return self.name.split(".", 1)[1] if "." in self.name else ""


@dataclass(frozen=True)
class RegistrarContext:
    action: RegistrarAction
    idempotency_key: str
    settings: dict[str, Any]  # the registrar's configured settings, secrets decrypted for this call only
    domain: DomainSnapshot
    params: dict[str, Any] = field(default_factory=dict)  # the action's own: nameservers, lock, contacts, years


# --- What a call returns ---------------------------------------------------------------------------------------


class RegistryStatus(enum.StrEnum):
    """A domain's state at the registry, as sync reports it."""

    ACTIVE = "active"
    EXPIRED = "expired"  # past its expiry, still ours to renew (grace, redemption)
    PENDING = "pending"  # a registration or a transfer in progress
    TRANSFERRED_AWAY = "transferred_away"  # another registrar holds it now
    GONE = "gone"  # the registry does not know it (deleted, never registered)


class TransferState(enum.StrEnum):
    PENDING = "pending"
    COMPLETED = "completed"
    FAILED = "failed"


@dataclass(frozen=True)
class Availability:
    name: str
    available: bool
    reason: str = ""  # the registry's words when it is not available ("In use", "Reserved")


@dataclass(frozen=True)
class Registered:
    """A registration or a renewal done: the expiry date is the registry's, never computed by the portal. With
    the Manual registrar nothing is done yet: `todo` says what the admin does, and `expiry_date` is None until the
    admin marks the to-do done with the new date."""

    expiry_date: datetime.date | None
    message: str = ""
    found_existing: bool = False  # a repeated register found the name already ours
    todo: str = ""


@dataclass(frozen=True)
class TransferRequested:
    state: TransferState
    message: str = ""
    expiry_date: datetime.date | None = None  # when the registry completed it at once
    todo: str = ""


@dataclass(frozen=True)
class Nameservers:
    hosts: tuple[str, ...]
    message: str = ""
    todo: str = ""


@dataclass(frozen=True)
class Lock:
    locked: bool
    message: str = ""
    todo: str = ""


@dataclass(frozen=True)
class EppCode:
    """The domain's authorization code: a secret. The queue never keeps it in the call's record; the portal emails
    it to the client and shows it to nobody."""

    code: str
    message: str = ""
    todo: str = ""


@dataclass(frozen=True)
class ContactsSaved:
    message: str = ""
    todo: str = ""


@dataclass(frozen=True)
class DomainSync:
    status: RegistryStatus
    expiry_date: datetime.date | None = None
    message: str = ""
    todo: str = ""


@dataclass(frozen=True)
class TransferSync:
    state: TransferState
    expiry_date: datetime.date | None = None
    reason: str = ""  # why it failed, in the registry's words
    message: str = ""
    todo: str = ""


class TransferSide(enum.StrEnum):
    """Which end of a transfer a poll message is about, for the account that read it."""

    GAINING = "gaining"  # this account asked for the transfer (a transfer in)
    LOSING = "losing"  # another registrar asked for a domain this account sponsors (a transfer away)


@dataclass(frozen=True)
class PolledTransfer:
    """A poll message's transfer data (EPP <domain:trnData>): the transfer as it was when the message was queued."""

    name: str  # the domain, as its A-label, lower case
    status: str  # the registry's own word (trStatus): pending, clientApproved, serverApproved, clientRejected, ...
    state: TransferState  # what that status means: still pending, completed, or failed
    side: TransferSide | None  # None: neither end is this account (nothing of ours)
    expiry_date: datetime.date | None = None  # the registry's, for a completed transfer
    reason: str = ""  # why it failed, in the registry's words


@dataclass(frozen=True)
class PollMessage:
    """The head of a registrar account's message queue (EPP poll, RFC 5730 2.9.2.3). It stays there until it is
    acknowledged (`Registrar.poll_ack`), so a message read and not acknowledged is read again."""

    message_id: str  # the registry's id, unique for the account
    text: str
    queued_at: datetime.datetime | None
    remaining: int = 1  # the messages in the queue, this one included
    transfer: PolledTransfer | None = None  # None: a message about no transfer (text only, or another kind)


RegistrarResult = (
    Availability
    | Registered
    | TransferRequested
    | Nameservers
    | Lock
    | EppCode
    | ContactsSaved
    | DomainSync
    | TransferSync
)


# --- Registrars ---------------------------------------------------------------------------------------------------


class Registrar:
    """Base class. A registrar declares its name, label and settings, and implements the actions it supports;
    the others raise NotSupported. `call` runs the context's action."""

    name: ClassVar[str] = ""
    label: ClassVar[str] = ""
    settings: ClassVar[tuple[Setting, ...]] = ()
    actions: ClassVar[frozenset[RegistrarAction]] = frozenset(RegistrarAction)
    # Whether the portal may ask this registrar for availability at checkout (Manual cannot know).
    checks_availability: ClassVar[bool] = True
    # Whether the registrar reads its account's message queue (poll / poll_ack): the run's registrar_poll step
    # asks only those that do, once per configuration (docs/REGISTRARS.md).
    polls_messages: ClassVar[bool] = False

    def supports(self, action: RegistrarAction) -> bool:
        return action in self.actions

    def call(self, context: RegistrarContext) -> RegistrarResult:
        if not self.supports(context.action):
            raise NotSupported(f"The {self.label} registrar does not offer {context.action.value.replace('_', ' ')}.")
        return getattr(self, context.action.value)(context)

    def check(self, context: RegistrarContext) -> Availability:
        raise NotSupported(f"The {self.label} registrar cannot check availability.")

    def register(self, context: RegistrarContext) -> Registered:
        raise NotSupported(f"The {self.label} registrar cannot register domains.")

    def transfer(self, context: RegistrarContext) -> TransferRequested:
        raise NotSupported(f"The {self.label} registrar cannot transfer domains.")

    def renew(self, context: RegistrarContext) -> Registered:
        raise NotSupported(f"The {self.label} registrar cannot renew domains.")

    def get_nameservers(self, context: RegistrarContext) -> Nameservers:
        raise NotSupported(f"The {self.label} registrar cannot read nameservers.")

    def save_nameservers(self, context: RegistrarContext) -> Nameservers:
        raise NotSupported(f"The {self.label} registrar cannot change nameservers.")

    def get_lock(self, context: RegistrarContext) -> Lock:
        raise NotSupported(f"The {self.label} registrar cannot read the lock.")

    def save_lock(self, context: RegistrarContext) -> Lock:
        raise NotSupported(f"The {self.label} registrar cannot change the lock.")

    def get_epp_code(self, context: RegistrarContext) -> EppCode:
        raise NotSupported(f"The {self.label} registrar cannot give the EPP code.")

    def save_contacts(self, context: RegistrarContext) -> ContactsSaved:
        raise NotSupported(f"The {self.label} registrar cannot change contacts.")

    def sync(self, context: RegistrarContext) -> DomainSync:
        raise NotSupported(f"The {self.label} registrar cannot sync.")

    def transfer_sync(self, context: RegistrarContext) -> TransferSync:
        raise NotSupported(f"The {self.label} registrar cannot follow transfers.")

    # --- the account's message queue (not a domain's action: no RegistrarContext, only the settings) ------------

    def poll(self, settings: dict[str, Any]) -> PollMessage | None:
        """The head of the account's message queue, or None when it is empty. Reading it changes nothing."""
        raise NotSupported(f"The {self.label} registrar does not read a message queue.")

    def poll_ack(self, settings: dict[str, Any], message_id: str) -> None:
        """Take the message off the queue. A message the registry no longer has counts as acknowledged."""
        raise NotSupported(f"The {self.label} registrar does not read a message queue.")
