"""What a registrar call's outcome does to its domain, in the transaction that records the outcome. The registry's
answer wins: an expiry date is always the one the registrar returned, never one the portal computed.

- register succeeded with an expiry date: a domain waiting in Pending Registration is Active until that date;
- transfer completed: Active until the date the registry gives; still pending: it waits in Pending Transfer;
- renew succeeded: the expiry date is the registrar's (an Expired domain is Active again);
- nameservers or lock saved (or read): the domain keeps what the registrar now holds;
- sync and transfer sync: the registry's date and status (also what a registry's poll message applies, through
  the same functions: provisioning.queue.registrar_poll);
- a to-do the registrar left (the Manual registrar): a ModuleTodo for the admins, done with the new expiry date
  when the action gives one (provisioning.queue.registrar_actions).
"""

from __future__ import annotations

from core.fsm import apply_transition
from notifications.bus import emit
from notifications.services import email_queue
from provisioning.models import Domain, ModuleCall, ModuleTodo
from provisioning.registrars.base import (
    DomainSync,
    EppCode,
    Lock,
    Nameservers,
    Registered,
    RegistrarAction,
    RegistrarResult,
    RegistryStatus,
    TransferRequested,
    TransferState,
    TransferSync,
)
from provisioning.services.common import item_log


def domain_confirmed(domain: Domain, expiry_date, *, how: str, actor=None) -> None:
    """The registrar confirmed the domain is ours until `expiry_date`: Active (from Pending Registration/Transfer,
    or Expired), or the new date on an Active one."""
    previous = domain.expiry_date
    if domain.status in Domain.BEFORE_ACTIVE:
        apply_transition(domain.activate, label="activated", expiry_date=expiry_date)
        domain.epp_code_token = ""  # a transfer in is done with the code: it is not kept past its use
        domain.save(update_fields=["status", "expiry_date", "epp_code_token"])
        item_log(actor, "domain_activated", domain, f"Domain {domain} {how}: active until {expiry_date}")
        emit("DomainActivated", domain_id=domain.pk, client_id=domain.client_id, registrar_ran=True)
        return
    if domain.status == Domain.Status.EXPIRED:
        apply_transition(domain.renew, label="renewed", expiry_date=expiry_date)
        domain.save(update_fields=["status", "expiry_date"])
    elif domain.expiry_date != expiry_date:
        domain.expiry_date = expiry_date
        domain.save(update_fields=["expiry_date"])
    else:
        return
    item_log(None, "domain_expiry_confirmed", domain, f"Domain {domain} {how}: expiry {previous} → {expiry_date}")


def registrar_call_succeeded(call: ModuleCall, domain: Domain, result: RegistrarResult) -> None:
    """Apply a successful registrar call (the caller holds the domain's and the call's locks)."""
    action = RegistrarAction(call.action)
    todo = getattr(result, "todo", "")
    if todo:
        ModuleTodo.objects.create(call=call, domain=domain, text=todo)
    if action in (RegistrarAction.REGISTER, RegistrarAction.RENEW) and isinstance(result, Registered):
        if result.expiry_date is not None:
            words = "registered at the registrar" if action is RegistrarAction.REGISTER else "renewed at the registrar"
            domain_confirmed(domain, result.expiry_date, how=words)
    elif action is RegistrarAction.TRANSFER and isinstance(result, TransferRequested):
        if result.state is TransferState.COMPLETED and result.expiry_date is not None:
            domain_confirmed(domain, result.expiry_date, how="transferred in")
    elif isinstance(result, Nameservers) and action in (
        RegistrarAction.SAVE_NAMESERVERS,
        RegistrarAction.GET_NAMESERVERS,
    ):
        if not todo and list(result.hosts) != list(domain.nameservers or []):
            domain.nameservers = list(result.hosts)
            domain.save(update_fields=["nameservers"])
    elif isinstance(result, Lock) and action in (RegistrarAction.SAVE_LOCK, RegistrarAction.GET_LOCK):
        if not todo and result.locked != domain.transfer_lock:
            domain.transfer_lock = result.locked
            domain.save(update_fields=["transfer_lock"])
    elif isinstance(result, EppCode) and result.code:
        # Emailed to the domain's owner, never shown: the email is the only place it goes.
        email_queue(
            template="domain_epp_code",
            to_address=domain.client.email,
            idempotency_key=f"domain_epp_code:{call.pk}",
            context={"domain": domain.name, "epp_code": result.code},
            client_id=domain.client_id,
        )
    elif isinstance(result, DomainSync):
        domain_synced(domain, result)
    elif isinstance(result, TransferSync):
        transfer_synced(domain, result)


def domain_synced(domain: Domain, result: DomainSync, *, via: str = "") -> None:
    """The registrar's answer wins: its expiry date, and a domain it no longer holds for us is not billed again.
    `via` names where the answer came from when it was not a sync call (a registry message), for the log."""
    if result.status in (RegistryStatus.ACTIVE, RegistryStatus.EXPIRED) and result.expiry_date is not None:
        domain_confirmed(domain, result.expiry_date, how="synced with the registrar")
    elif result.status is RegistryStatus.TRANSFERRED_AWAY and domain.status in (
        Domain.Status.ACTIVE,
        Domain.Status.EXPIRED,
    ):
        apply_transition(domain.mark_transferred_away, label="transferred away")
        domain.save(update_fields=["status"])
        item_log(
            None,
            "domain_transferred_away",
            domain,
            f"Domain {domain}: the registrar says another holds it{_from(via)}",
        )
        emit("DomainTransferredAway", domain_id=domain.pk, client_id=domain.client_id)
    elif result.status is RegistryStatus.GONE and domain.status in (Domain.Status.ACTIVE, Domain.Status.EXPIRED):
        apply_transition(domain.registry_lost, label="gone at the registry")
        domain.save(update_fields=["status"])
        item_log(None, "domain_gone", domain, f"Domain {domain}: the registrar says the registry no longer has it")
        emit("DomainGone", domain_id=domain.pk, client_id=domain.client_id)


def transfer_synced(domain: Domain, result: TransferSync, *, via: str = "") -> None:
    """A transfer in completed (Active with the registry's date) or failed (Pending again, with its reason)."""
    if result.state is TransferState.COMPLETED and result.expiry_date is not None:
        domain_confirmed(domain, result.expiry_date, how=f"transferred in{_from(via)}")
    elif result.state is TransferState.FAILED and domain.status == Domain.Status.PENDING_TRANSFER:
        apply_transition(domain.transfer_failed, label="transfer failed")
        domain.save(update_fields=["status", "setup_round"])
        reason = result.reason or "no reason given"
        item_log(
            None,
            "domain_transfer_failed",
            domain,
            f"Transfer of {domain} failed at the registry{_from(via)}: {reason}",
        )
        emit("DomainTransferFailed", domain_id=domain.pk, client_id=domain.client_id, reason=reason)


def _from(via: str) -> str:
    return f" ({via})" if via else ""
