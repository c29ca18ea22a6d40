"""What provisioning's services did, as data: the admin and the views word it (provisioning.wording)."""

from __future__ import annotations

import datetime
import enum
from dataclasses import dataclass


class WelcomeEmail(enum.Enum):
    NOT_ASKED = "not_asked"
    QUEUED = "queued"
    ALREADY_QUEUED = "already_queued"  # on an earlier accept of the same service
    AFTER_CREATE = "after_create"  # queued when the module's create succeeds


class Setup(enum.Enum):
    """How a service was set up."""

    NO_MODULE = "no_module"  # Active at once: the product has no provisioning module
    MODULE_NOT_ASKED = "module_not_asked"  # Active at once: the admin unticked "run module create"
    CREATE_QUEUED = "create_queued"  # the module's create was asked for: Active when it succeeds
    CREATE_ALREADY_QUEUED = "create_already_queued"  # asked for before (same setup round): nothing new asked
    MODULE_RAN = "module_ran"  # Active because the module's create succeeded


@dataclass(frozen=True)
class ServiceActivated:
    """What setting up a service did (provisioning.wording words it). With CREATE_QUEUED the service is still
    Pending: the module queue activates it when the create succeeds."""

    setup: Setup
    welcome_email: WelcomeEmail
    call_id: int | None = None


class ItemMove(enum.Enum):
    """What withdrawing or reopening a service or domain with its order did to it."""

    TERMINATED = "terminated"
    CANCELLED = "cancelled"
    FRAUD = "fraud"
    PENDING = "pending"


@dataclass(frozen=True)
class DomainActivated:
    """What accepting a domain did (provisioning.wording words it): sent to its registrar (and now waiting in
    `status`), or Active by hand until `expiry_date`."""

    sent_to_registrar: bool
    status: str
    expiry_date: datetime.date | None
    registrar: str = ""  # the registrar it was sent to ("": none named, an admin registers it)
    call_id: int | None = None  # its register or transfer call in the module queue


class CancellationRefusal(enum.Enum):
    """Why a service cannot be asked to end now (provisioning.selectors.cancellation_refusal)."""

    NOT_LIVE = "not_live"
    ALREADY_REQUESTED = "already_requested"  # it has an open request
