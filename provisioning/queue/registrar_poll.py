"""The worker's side of a registrar poll: read a registrar account's message queue (EPP poll) and apply what each
message says about our domains, exactly once, with no message lost.

For each message, up to PORTAL_REGISTRAR_POLL_LIMIT a run:
1. read the queue's head (the registrar, outside any transaction);
2. in one transaction: lock the domain it is about, record the message (unique per configuration and message
   id) and apply its effect through queue.registrar_effects, the same functions a transfer sync or a sync uses;
3. after that commit, acknowledge it at the registry, so the queue moves on.
A message already recorded (the acknowledgement of an earlier run was lost) is only acknowledged. A fault (the
registry down, a frame that does not parse, an effect that cannot be applied) ends the run as Failed with the
error, before the message's acknowledgement: the next run reads it again.

What a message does:
- a transfer in (we asked) approved: our Pending Transfer domain is Active until the registry's date; rejected or
  cancelled: its transfer failed, with the registry's words;
- a transfer away (another registrar asked for a domain we hold) completed: our Active or Expired domain is
  Transferred Away, not billed again;
- a pending transfer, a domain already moved (the daily transfer query got there first), a domain we do not have
  at this registrar, a message about no transfer: recorded, acknowledged, and changes nothing;
- a message queued before the transfer round (or the domain) it would change began: about an earlier one,
  recorded as stale and not applied.
"""

from __future__ import annotations

import datetime
import enum
import hashlib
import logging
from dataclasses import dataclass

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Case, IntegerField, Value, When
from django.utils import timezone

from core import crypto
from core.fsm import apply_transition
from provisioning.models import (
    DOMAIN_LIVE_STATUSES,
    Domain,
    ModuleCall,
    RegistrarConfig,
    RegistrarPoll,
    RegistrarPollMessage,
)
from provisioning.modules.base import ModuleError, PermanentModuleError
from provisioning.queue.common import session_lock
from provisioning.queue.registrar_context import registrar_settings
from provisioning.queue.registrar_effects import domain_synced, transfer_synced
from provisioning.queue.requests import registration_key
from provisioning.registrars import registry
from provisioning.registrars.base import (
    DomainSync,
    PollMessage,
    RegistrarAction,
    RegistryStatus,
    TransferSide,
    TransferState,
    TransferSync,
)

logger = logging.getLogger("provisioning.queue")

# The advisory-lock namespace of polls (the two-key form: (namespace, configuration id)): one poll of an account
# at a time, so two never read the same head message.
POLL_LOCK_NAMESPACE = 1_767_002
# How far the registry's clock may be behind ours before a message about our current transfer looks older than it.
CLOCK_SKEW = datetime.timedelta(minutes=5)
MESSAGE_ID_MAX = RegistrarPollMessage._meta.get_field("message_id").max_length

Outcome = RegistrarPollMessage.Outcome


class PollResult(enum.Enum):
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    SKIPPED = "skipped"  # another poll of the same configuration holds its lock
    FINISHED_BEFORE = "finished_before"  # the poll ran, failed or was closed already


@dataclass(frozen=True)
class Polled:
    poll_id: int
    result: PollResult
    read: int = 0
    error: str = ""


def registrar_poll_run(poll_id: int) -> Polled:
    """Run this poll if it has not run. Never raises for a registry's or a registrar's fault: the poll records
    it. Runs outside any transaction (a Celery task): each message commits before it is acknowledged."""
    poll = RegistrarPoll.objects.filter(pk=poll_id).only("status", "config_id").first()
    if poll is None or poll.status not in (RegistrarPoll.Status.QUEUED, RegistrarPoll.Status.RUNNING):
        return Polled(poll_id, PollResult.FINISHED_BEFORE)
    with session_lock(POLL_LOCK_NAMESPACE, poll.config_id) as held:
        if not held:
            return _skipped(poll_id)
        claimed = _claim(poll_id)
        if claimed is None:
            return Polled(poll_id, PollResult.FINISHED_BEFORE)
        return _drain(claimed)


def _skipped(poll_id: int) -> Polled:
    with transaction.atomic():
        poll = RegistrarPoll.objects.select_for_update().get(pk=poll_id)
        if poll.status == RegistrarPoll.Status.QUEUED:
            apply_transition(poll.skip, label="skipped", at=timezone.now())
            poll.save(update_fields=["status", "finished_at"])
    return Polled(poll_id, PollResult.SKIPPED)


def _claim(poll_id: int) -> RegistrarPoll | None:
    """The poll, Running; the configuration's earlier polls left Queued or Running (their task lost, their worker
    stopped: this one holds the lock, so none of them runs) are closed as Failed."""
    with transaction.atomic():
        poll = RegistrarPoll.objects.select_for_update().select_related("config").get(pk=poll_id)
        if poll.status not in (RegistrarPoll.Status.QUEUED, RegistrarPoll.Status.RUNNING):
            return None
        now = timezone.now()
        abandoned = RegistrarPoll.objects.select_for_update().filter(
            config_id=poll.config_id,
            status__in=(RegistrarPoll.Status.QUEUED, RegistrarPoll.Status.RUNNING),
            pk__lt=poll.pk,
        )
        for earlier in abandoned:
            apply_transition(
                earlier.fail,
                label="closed as not finished",
                at=now,
                read=earlier.messages_read,
                error=f"Did not finish (its task never ran or its worker stopped); poll #{poll.pk} read the queue.",
            )
            earlier.save(update_fields=["status", "finished_at", "messages_read", "error"])
        apply_transition(poll.start, label="started", at=now)
        poll.save(update_fields=["status", "started_at"])
    return poll


def _drain(poll: RegistrarPoll) -> Polled:
    config = poll.config
    read, left = 0, None
    try:
        registrar = registry.registrar_for(config.name)
        if not registrar.polls_messages:
            raise PermanentModuleError(f"The {registrar.label} registrar does not read a message queue.")
        values = registrar_settings(config.name)
        while read < settings.PORTAL_REGISTRAR_POLL_LIMIT:
            message = registrar.poll(values)
            if message is None:
                left = 0
                break
            _record(poll, config, message)
            registrar.poll_ack(values, message.message_id)
            RegistrarPollMessage.objects.filter(config=config, message_id=message_key(message.message_id)).update(
                acked_at=timezone.now()
            )
            read += 1
            left = max(0, message.remaining - 1)
    except Exception as raised:  # recorded on the poll, never raised to the worker
        error = _error_words(raised, config)
        with transaction.atomic():
            poll = RegistrarPoll.objects.select_for_update().get(pk=poll.pk)
            apply_transition(poll.fail, label="recorded as failed", at=timezone.now(), read=read, error=error)
            poll.save(update_fields=["status", "finished_at", "messages_read", "error"])
        logger.warning("Registrar poll %s of %s failed after %s message(s): %s", poll.pk, config.name, read, error)
        return Polled(poll.pk, PollResult.FAILED, read, error)
    with transaction.atomic():
        poll = RegistrarPoll.objects.select_for_update().get(pk=poll.pk)
        apply_transition(poll.succeed, label="recorded as succeeded", at=timezone.now(), read=read, left=left)
        poll.save(update_fields=["status", "finished_at", "messages_read", "messages_left"])
    return Polled(poll.pk, PollResult.SUCCEEDED, read)


def message_key(message_id: str) -> str:
    """The id the record keeps: the registry's own, or its SHA-256 when it is longer than the column (RFC 5730
    sets no length), so a long id is recorded and acknowledged instead of failing every later poll."""
    if len(message_id) <= MESSAGE_ID_MAX:
        return message_id
    return "sha256:" + hashlib.sha256(message_id.encode()).hexdigest()


def _error_words(raised: Exception, config: RegistrarConfig) -> str:
    if isinstance(raised, ModuleError):
        return raised.message[:2000]
    if isinstance(raised, registry.UnknownRegistrar | crypto.SecretUnreadable):
        return str(raised)[:2000]
    logger.error("Registrar poll of %s failed unexpectedly", config.name, exc_info=raised)
    return f"The poll failed unexpectedly ({type(raised).__name__}); the error is in the portal's log."


def _record(poll: RegistrarPoll, config: RegistrarConfig, message: PollMessage) -> None:
    """Record the message and apply it, in one transaction; a message recorded before changes nothing."""
    transfer = message.transfer
    with transaction.atomic():
        domain = _our_domain(config.name, transfer.name) if transfer is not None and transfer.side else None
        outcome = _outcome(message, domain)
        try:
            with transaction.atomic():  # a savepoint: only the record's own key is caught
                RegistrarPollMessage.objects.create(
                    config=config,
                    poll=poll,
                    message_id=message_key(message.message_id),
                    queued_at=message.queued_at,
                    text=message.text[:4000],
                    domain_name=transfer.name if transfer is not None else "",
                    transfer_status=transfer.status[:32] if transfer is not None else "",
                    expiry_date=transfer.expiry_date if transfer is not None else None,
                    domain=domain,
                    outcome=outcome,
                )
        except IntegrityError:
            logger.info(
                "Registrar %s message %s was recorded before: acknowledged only", config.name, message.message_id
            )
            return
        if outcome == Outcome.APPLIED:
            assert transfer is not None and domain is not None
            via = f"registry message {message.message_id}"
            if transfer.side is TransferSide.GAINING:
                transfer_synced(
                    domain, TransferSync(transfer.state, transfer.expiry_date, reason=transfer.reason), via=via
                )
            else:
                domain_synced(domain, DomainSync(RegistryStatus.TRANSFERRED_AWAY), via=via)
        log = logger.warning if outcome == Outcome.STALE else logger.info
        log(
            "Registrar %s message %s (%s%s): %s",
            config.name,
            message.message_id,
            transfer.name if transfer is not None else "no transfer",
            f" {transfer.status}" if transfer is not None else "",
            Outcome(outcome).label,
        )


def _our_domain(registrar: str, name: str) -> Domain | None:
    """Our domain of that name at this registrar, locked: the live one, else the latest that ended."""
    live_first = Case(
        When(status__in=DOMAIN_LIVE_STATUSES, then=Value(0)), default=Value(1), output_field=IntegerField()
    )
    return (
        Domain.objects.select_for_update(of=("self",))
        .filter(name=name.lower(), registrar=registrar)
        .order_by(live_first, "-pk")
        .first()
    )


def _outcome(message: PollMessage, domain: Domain | None) -> str:
    """What the message does to our domain (decided under its lock, before anything is written)."""
    transfer = message.transfer
    if transfer is None or transfer.side is None:
        return Outcome.NOT_A_TRANSFER
    if domain is None:
        return Outcome.UNKNOWN_DOMAIN
    if transfer.state is TransferState.PENDING:
        return Outcome.NOTHING_TO_DO
    if transfer.side is TransferSide.GAINING:
        if domain.status != Domain.Status.PENDING_TRANSFER:
            return Outcome.NOTHING_TO_DO  # applied already (the transfer query), or not waiting for a transfer
        if transfer.state is TransferState.COMPLETED and transfer.expiry_date is None:
            logger.warning("A completed transfer of %s came with no expiry date: the transfer query follows it", domain)
            return Outcome.NOTHING_TO_DO
        asked_at = _transfer_asked_at(domain) or domain.created_at
        return Outcome.STALE if _queued_before(message, asked_at) else Outcome.APPLIED
    if transfer.state is not TransferState.COMPLETED or domain.status not in (
        Domain.Status.ACTIVE,
        Domain.Status.EXPIRED,
    ):
        return Outcome.NOTHING_TO_DO  # refused or cancelled: still ours; or no longer ours already
    return Outcome.STALE if _queued_before(message, domain.created_at) else Outcome.APPLIED


def _transfer_asked_at(domain: Domain) -> datetime.datetime | None:
    """When this round's transfer in was asked (a domain sent again after a failed transfer is a new round)."""
    return (
        ModuleCall.objects.filter(idempotency_key=registration_key(domain, RegistrarAction.TRANSFER))
        .values_list("created_at", flat=True)
        .first()
    )


def _queued_before(message: PollMessage, moment: datetime.datetime) -> bool:
    return message.queued_at is not None and message.queued_at < moment - CLOCK_SKEW
