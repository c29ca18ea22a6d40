"""The words for what provisioning's services did: the admin's messages and the activity log say the same."""

from __future__ import annotations

from provisioning.models import Domain, Service
from provisioning.outcomes import CancellationRefusal, DomainActivated, ItemMove, ServiceActivated, Setup, WelcomeEmail

SETUP_WORDS = {
    Setup.NO_MODULE: "activated: its product has no provisioning module, so no module ran",
    Setup.MODULE_NOT_ASKED: "activated without running the module (not requested)",
    Setup.CREATE_QUEUED: "module create queued (call #{call_id}); the service becomes Active when it succeeds",
    Setup.CREATE_ALREADY_QUEUED: "module create already queued (call #{call_id}): not asked again",
    Setup.MODULE_RAN: "activated: the module created the account",
}
WELCOME_WORDS = {
    WelcomeEmail.NOT_ASKED: "",
    WelcomeEmail.QUEUED: "; welcome email queued",
    WelcomeEmail.ALREADY_QUEUED: "; welcome email not queued again (queued on an earlier accept)",
    WelcomeEmail.AFTER_CREATE: "; the welcome email is queued when the create succeeds",
}


def service_activated_words(outcome: ServiceActivated) -> str:
    return SETUP_WORDS[outcome.setup].format(call_id=outcome.call_id) + WELCOME_WORDS[outcome.welcome_email]


def domain_activated_words(outcome: DomainActivated) -> str:
    if outcome.sent_to_registrar:
        status = Domain.Status(outcome.status).label
        if outcome.call_id is None:
            return f"{status}: no registrar is chosen for it, so it waits for an admin to register it"
        return f"{status}: queued at the {outcome.registrar} registrar (call #{outcome.call_id})"
    return f"activated by hand without a registrar, expiring {outcome.expiry_date}"


def item_move_words(move: ItemMove) -> str:
    return move.value  # "terminated", "cancelled", "fraud", "pending"


def cancellation_refusal_words(service: Service, refusal: CancellationRefusal) -> str:
    if refusal is CancellationRefusal.NOT_LIVE:
        return f"{service} is {service.get_status_display()}: only a live service can be cancelled."
    if refusal is CancellationRefusal.ALREADY_REQUESTED:
        return f"{service} already has an open cancellation request."
    raise TypeError(f"No words for {refusal!r}")
