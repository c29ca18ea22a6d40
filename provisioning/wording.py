"""The words for what provisioning's services did: the admin's messages and the activity log say the same."""

from __future__ import annotations

from provisioning.models import Domain, Service
from provisioning.outcomes import CancellationRefusal, DomainActivated, ItemMove, ServiceActivated, WelcomeEmail


def service_activated_words(outcome: ServiceActivated) -> str:
    if outcome.module_requested:
        words = "module create requested, but no provisioning module is available yet: no module ran"
    else:
        words = "activated without running the module (not requested)"
    if outcome.welcome_email is WelcomeEmail.QUEUED:
        words += "; welcome email queued"
    elif outcome.welcome_email is WelcomeEmail.ALREADY_QUEUED:
        words += "; welcome email not queued again (queued on an earlier accept)"
    return words


def domain_activated_words(outcome: DomainActivated) -> str:
    if outcome.sent_to_registrar:
        return f"{Domain.Status(outcome.status).label}: no registrar module is available yet, so no registrar ran"
    return f"activated by hand without a registrar, expiring {outcome.expiry_date}"


def item_move_words(move: ItemMove) -> str:
    return move.value  # "terminated", "cancelled", "fraud", "pending"


def cancellation_refusal_words(service: Service, refusal: CancellationRefusal) -> str:
    if refusal is CancellationRefusal.NOT_LIVE:
        return f"{service} is {service.get_status_display()}: only a live service can be cancelled."
    if refusal is CancellationRefusal.ALREADY_REQUESTED:
        return f"{service} already has an open cancellation request."
    raise TypeError(f"No words for {refusal!r}")
