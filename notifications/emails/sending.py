"""Sending the queued emails: claim, render, send through Django's email backend, record.

An email moves queued -> sending (claimed by one worker in a short transaction: SELECT ... FOR UPDATE SKIP LOCKED,
then UPDATE, so two workers never send one email) -> sent, or back to queued with a later next_attempt_at when
the SMTP server fails for now (4xx, refused connection, timeout), or failed once the attempts are used up or the
server refuses for good (5xx), where it waits for an admin's retry. The idempotency key (unique) made the email
once; the claim makes it go out once."""

from __future__ import annotations

import enum
import logging
import random
import smtplib
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.mail import EmailMultiAlternatives, get_connection
from django.core.mail.message import make_msgid
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from core.rows import update_rows
from notifications.emails.attachments import attachments_render
from notifications.emails.rendering import email_render
from notifications.models import EmailTemplate, OutboundEmail
from notifications.services import EMAIL_BATCH, Actor, activity_record, emails_send_after_commit

logger = logging.getLogger("notifications.emails")

BACKOFF_CAP = timedelta(hours=6)
SWEEP_BATCH = EMAIL_BATCH
# What one email of a batch may take beside its SMTP exchange: rendering it and its PDFs.
RENDER_ALLOWANCE_SECONDS = 10
# An SMTP exchange is a few commands, each of which may wait up to EMAIL_TIMEOUT; a slow server that answers each
# one late is counted as two whole timeouts per email.
SMTP_WAITS_PER_EMAIL = 2
# What a value of an email's context holds when it was not kept (a password reset link): see emails_send.
NOT_KEPT = "(the reset link, not kept)"


def stale_claim() -> timedelta:
    """A claim older than this is a worker that died mid-batch: the sweep puts the email back in the queue. An email
    stays claimed until its turn in its batch, so this is longer than a whole batch can take at the worst, every
    email waiting out its SMTP timeouts and rendering its PDFs (about 2 hours at 100 emails and a 30 s timeout)."""
    per_email = settings.EMAIL_TIMEOUT * SMTP_WAITS_PER_EMAIL + RENDER_ALLOWANCE_SECONDS
    return max(timedelta(minutes=15), timedelta(seconds=SWEEP_BATCH * per_email))


Status = OutboundEmail.Status


class SendResult(enum.StrEnum):
    SENT = "sent"
    RETRY = "retry"  # failed for now; back in the queue until next_attempt_at
    FAILED = "failed"
    SKIPPED = "skipped"  # its template is switched off


@dataclass(frozen=True)
class SendOutcome:
    email_id: int
    result: SendResult
    error: str = ""
    next_attempt_at: datetime | None = None


def max_attempts() -> int:
    return settings.EMAIL_MAX_ATTEMPTS


def backoff(attempts: int) -> timedelta:
    """Exponential backoff with full jitter around it: about base * 2^(n-1), between half and one and a half."""
    base = settings.EMAIL_RETRY_BASE_SECONDS * 2 ** max(0, attempts - 1)
    return min(timedelta(seconds=base * random.uniform(0.5, 1.5)), BACKOFF_CAP)


def _due(now: datetime) -> Q:
    return Q(status=Status.QUEUED) & (Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now))


def _claim(email_ids: Iterable[int], now: datetime) -> list[OutboundEmail]:
    """The emails of `email_ids` that are due and that no other worker holds, marked sending by us."""
    with transaction.atomic():
        ids = list(
            OutboundEmail.objects.select_for_update(skip_locked=True)
            .filter(_due(now), pk__in=list(email_ids))
            .order_by("pk")
            .values_list("pk", flat=True)
        )
        if ids:
            OutboundEmail.objects.filter(pk__in=ids).update(
                status=Status.SENDING, claimed_at=now, attempts=F("attempts") + 1
            )
    return list(OutboundEmail.objects.filter(pk__in=ids).order_by("pk"))


def _permanent(error: Exception) -> bool:
    """A refusal the server will repeat (5xx): no retry."""
    if isinstance(error, smtplib.SMTPRecipientsRefused):
        return all(code >= 500 for code, _message in error.recipients.values())
    return isinstance(error, smtplib.SMTPResponseException) and error.smtp_code >= 500


def _message(
    email: OutboundEmail, template: EmailTemplate, connection, unkept: dict[str, Any]
) -> EmailMultiAlternatives:
    """The message to send, rendered with the `unkept` values over the stored context; what is kept of it (the
    email's subject and bodies, set on `email`) is rendered on the stored context alone."""
    parts = {"subject": template.subject, "body_text": template.body_text, "body_html": template.body_html}
    rendered = email_render(**parts, context={**email.context, **unkept})
    kept = email_render(**parts, context=email.context) if unkept else rendered
    email.subject, email.body_text, email.body_html = kept.subject, kept.body_text, kept.body_html
    message = EmailMultiAlternatives(
        subject=rendered.subject,
        body=rendered.body_text,
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[email.to_address],
        headers={"Message-ID": email.message_id},
        connection=connection,
    )
    message.attach_alternative(rendered.body_html, "text/html")
    for attachment in attachments_render(email.attachments):
        message.attach(attachment.filename, attachment.content, attachment.mimetype)
    return message


def emails_send(
    email_ids: Iterable[int], *, now: datetime | None = None, unkept: dict[int, dict[str, Any]] | None = None
) -> list[SendOutcome]:
    """Send those of these emails that are due, SWEEP_BATCH at a time over one connection to the mail server;
    record each outcome as soon as its email is sent (a worker that dies mid-batch leaves the ones it sent
    recorded sent, and only the rest for the sweep). An email already sent, held by another worker or not due yet
    is left alone (not in the outcomes).

    `unkept` gives, per email id, context values that are sent but never stored (a password reset link: its stored
    context and kept bodies hold NOT_KEPT instead). Such an email can only be sent in the call that has them: one
    whose send fails, or that a retry or the sweep picks up later, is recorded failed (the user asks again)."""
    now = now or timezone.now()
    ids = list(email_ids)
    outcomes: list[SendOutcome] = []
    for n in range(0, len(ids), SWEEP_BATCH):
        outcomes += _send_batch(ids[n : n + SWEEP_BATCH], now, unkept or {})
    return outcomes


def _send_batch(email_ids: list[int], now: datetime, unkept: dict[int, dict[str, Any]]) -> list[SendOutcome]:
    claimed = _claim(email_ids, now)
    if not claimed:
        return []
    templates = EmailTemplate.objects.in_bulk({email.template for email in claimed}, field_name="name")
    connection = get_connection()
    outcomes: list[SendOutcome] = []
    try:
        for email in claimed:
            outcome = _send_one(email, templates.get(email.template), connection, now, unkept.get(email.pk, {}))
            _record([email], [outcome], now)  # at once: one UPDATE for one SMTP exchange
            outcomes.append(outcome)
    finally:
        try:
            connection.close()
        except Exception:  # a server that already hung up; nothing left to close
            logger.debug("closing the mail connection failed", exc_info=True)
    return outcomes


def _not_kept(email: OutboundEmail) -> bool:
    return NOT_KEPT in email.context.values()


NOT_KEPT_ERROR = "Its link was not kept, so it cannot be sent again: the user asks for a new one."


def _send_one(
    email: OutboundEmail, template: EmailTemplate | None, connection, now: datetime, unkept: dict[str, Any]
) -> SendOutcome:
    if not email.message_id:
        email.message_id = make_msgid(idstring=str(email.pk), domain=settings.EMAIL_MESSAGE_ID_DOMAIN)
    if template is None:
        return SendOutcome(email.pk, SendResult.FAILED, f"There is no email template named {email.template!r}.")
    if not template.enabled:
        return SendOutcome(email.pk, SendResult.SKIPPED)
    if _not_kept(email) and not unkept:
        return SendOutcome(email.pk, SendResult.FAILED, NOT_KEPT_ERROR)
    try:
        message = _message(email, template, connection, unkept)
    except Exception as error:  # a template or attachment we cannot render: ours to fix, retrying won't help
        logger.exception("Email %s (%s) could not be rendered", email.pk, email.template)
        return SendOutcome(email.pk, SendResult.FAILED, f"Could not render the email: {error}")
    try:
        connection.open()  # once per batch: a connection Django's backend opened itself is closed after each send
        message.send()
    except (smtplib.SMTPException, OSError) as error:
        _close(connection)  # a fresh connection for the next email of the batch
        text = f"{type(error).__name__}: {error}"
        if _permanent(error) or email.attempts >= max_attempts() or unkept:
            logger.warning("Email %s to %s failed for good: %s", email.pk, email.to_address, text)
            return SendOutcome(email.pk, SendResult.FAILED, text + (f" {NOT_KEPT_ERROR}" if unkept else ""))
        logger.info(
            "Email %s to %s failed (attempt %s), retrying: %s", email.pk, email.to_address, email.attempts, text
        )
        return SendOutcome(email.pk, SendResult.RETRY, text, now + backoff(email.attempts))
    except Exception as error:  # anything else (a malformed address or header): the next try would
        # fail the same way, so it is failed for good, waiting for an admin's retry; the batch goes on.
        _close(connection)
        logger.exception("Email %s to %s could not be sent", email.pk, email.to_address)
        return SendOutcome(email.pk, SendResult.FAILED, f"{type(error).__name__}: {error}")
    return SendOutcome(email.pk, SendResult.SENT)


def _close(connection) -> None:
    try:
        connection.close()
    except Exception:  # a connection in a state we do not know; the next email opens a fresh one
        logger.debug("closing the mail connection failed", exc_info=True)


_STATUS_OF = {
    SendResult.SENT: Status.SENT,
    SendResult.RETRY: Status.QUEUED,
    SendResult.FAILED: Status.FAILED,
    SendResult.SKIPPED: Status.SKIPPED,
}


def _record(claimed: list[OutboundEmail], outcomes: list[SendOutcome], now: datetime) -> None:
    """These outcomes in one UPDATE."""
    emails = {email.pk: email for email in claimed}
    fields = ["status", "sent_at", "last_error", "next_attempt_at", "claimed_at", "message_id", "subject"]
    fields += ["body_text", "body_html"]
    rows = []
    for outcome in outcomes:
        email = emails[outcome.email_id]
        sent = outcome.result == SendResult.SENT
        rows.append(
            (
                email.pk,
                _STATUS_OF[outcome.result],
                now if sent else None,
                outcome.error,
                outcome.next_attempt_at,
                None,
                email.message_id,
                email.subject if sent else "",
                email.body_text if sent else "",
                email.body_html if sent else "",
            )
        )
    update_rows(OutboundEmail, fields, rows)


def retry_after(outcomes: list[SendOutcome]) -> timedelta | None:
    """When the earliest retry of these outcomes is due, from now (None: nothing to retry)."""
    due = [o.next_attempt_at for o in outcomes if o.result == SendResult.RETRY and o.next_attempt_at]
    return max(min(due) - timezone.now(), timedelta(0)) if due else None


def emails_sweep(*, now: datetime | None = None, limit: int = 10_000) -> list[list[int]]:
    """The emails left queued (their task never ran: Redis down at commit, a worker gone) or due a retry, and
    those whose worker died mid-send, in batches to send. Returns the batches; the caller sends a task each."""
    now = now or timezone.now()
    OutboundEmail.objects.filter(status=Status.SENDING, claimed_at__lt=now - stale_claim()).update(
        status=Status.QUEUED, claimed_at=None
    )
    ids = list(OutboundEmail.objects.filter(_due(now)).order_by("pk").values_list("pk", flat=True)[:limit])
    return [ids[n : n + SWEEP_BATCH] for n in range(0, len(ids), SWEEP_BATCH)]


def email_retry(*, email_id: int, actor: Actor) -> OutboundEmail:
    """An admin's retry of a failed email: queued again with a fresh set of attempts, sent after commit."""
    with transaction.atomic():
        email = OutboundEmail.objects.select_for_update().get(pk=email_id)
        if email.status != Status.FAILED:
            raise ValidationError(
                f"Email #{email.pk} is {email.get_status_display().lower()}, not failed: nothing to retry."
            )
        if _not_kept(email):
            raise ValidationError(f"Email #{email.pk} cannot be retried. {NOT_KEPT_ERROR}")
        email.status, email.attempts, email.next_attempt_at = Status.QUEUED, 0, None
        email.save(update_fields=["status", "attempts", "next_attempt_at"])
        activity_record(
            actor=actor,
            action="email_retried",
            subject=email,
            client_id=email.client_id,
            message=f"Email {email.template} to {email.to_address} queued again (was failed: {email.last_error[:200]})",
        )
        emails_send_after_commit([email.pk])
    return email
