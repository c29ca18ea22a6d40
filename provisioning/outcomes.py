"""What provisioning's services did, as data: the admin and the views word it (provisioning.wording)."""

from __future__ import annotations

import datetime
import enum
from dataclasses import dataclass


class WelcomeEmail(enum.Enum):
    NOT_ASKED = "not_asked"
    QUEUED = "queued"
    ALREADY_QUEUED = "already_queued"  # on an earlier accept of the same service


@dataclass(frozen=True)
class ServiceActivated:
    """What activating a service did (provisioning.wording words it)."""

    module_requested: bool
    welcome_email: WelcomeEmail
    module_ran: bool = False  # no provisioning module exists yet


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
    registrar_ran: bool = False  # no registrar module exists yet


class CancellationRefusal(enum.Enum):
    """Why a service cannot be asked to end now (provisioning.selectors.cancellation_refusal)."""

    NOT_LIVE = "not_live"
    ALREADY_REQUESTED = "already_requested"  # it has an open request
