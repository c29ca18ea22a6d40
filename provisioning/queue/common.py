"""What the module calls' and the registrar calls' runners share: at most one worker runs a call (a session
advisory lock on PostgreSQL, freed by the server if the worker dies), what a run reports, and how a failure is
recorded (a transient one waits for its retry with backoff and jitter up to PORTAL_MODULE_RETRY_LIMIT attempts; a
permanent one, a veto or the last attempt waits for an admin)."""

from __future__ import annotations

import enum
import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from celery import current_app
from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from core.after_commit import send_after_commit
from core.backoff import backoff
from core.fsm import apply_transition
from notifications.hooks import Veto
from provisioning.models import ModuleCall
from provisioning.modules.base import ModuleError, PermanentModuleError, TransientModuleError
from provisioning.queue.requests import RUN_TASK

logger = logging.getLogger("provisioning.queue")

# The advisory-lock namespace of module and registrar calls (the two-key form: (namespace, call id)).
LOCK_NAMESPACE = 1_767_001


class RunResult(enum.Enum):
    SUCCEEDED = "succeeded"
    RETRYING = "retrying"  # a transient error: tried again later
    FAILED = "failed"  # waits for an admin
    BUSY = "busy"  # another worker holds the call
    NOT_DUE = "not_due"  # its retry is not due yet
    FINISHED_BEFORE = "finished_before"  # succeeded, failed or resolved already: nothing ran


@dataclass(frozen=True)
class Ran:
    call_id: int
    result: RunResult
    error: str = ""


@contextmanager
def call_lock(call_id: int) -> Iterator[bool]:
    """Whether this worker holds the call (PostgreSQL: a session advisory lock, freed by the server if the
    worker dies). SQLite has one writer and no concurrent workers: always held."""
    with session_lock(LOCK_NAMESPACE, call_id) as held:
        yield held


@contextmanager
def session_lock(namespace: int, key: int) -> Iterator[bool]:
    """Whether this worker holds (namespace, key): a PostgreSQL session advisory lock, tried without waiting and
    freed by the server if the worker dies. SQLite has one writer and no concurrent workers: always held."""
    if connection.vendor != "postgresql":
        yield True
        return
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s, %s)", [namespace, key])
        held = cursor.fetchone()[0]
    try:
        yield held
    finally:
        if held:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_unlock(%s, %s)", [namespace, key])


def call_error(
    raised: Exception, call: ModuleCall, *, who: str, setup_errors: tuple[type[Exception], ...]
) -> ModuleError:
    """What a module's or registrar's call that raised is recorded as: a pre-hook's veto and a setup error (not
    installed, a secret the keys cannot read) are permanent; a module error is kept as it is; anything else is the
    module's bug, logged with its traceback and retried like a fault."""
    if isinstance(raised, Veto):
        return PermanentModuleError(f"Refused by the pre-hook {raised.hook}: {raised.reason}")
    if isinstance(raised, ModuleError):
        return raised
    if isinstance(raised, setup_errors):
        return PermanentModuleError(str(raised))
    logger.error(
        "%s call %s (%s %s) failed unexpectedly", who.capitalize(), call.pk, call.module, call.action, exc_info=raised
    )
    return TransientModuleError(
        f"The {who} failed unexpectedly ({type(raised).__name__}); the error is in the portal's log."
    )


def call_success_recorded(call: ModuleCall, summary: dict, apply, *, who: str, subject: str, now) -> ModuleError | None:
    """Apply a successful call's effects (`apply()`) in a savepoint, then record the call Succeeded with its
    summary and save it; returns None. If the effects fail (a bug, a refused move), the server did it but the
    portal could not apply it: calling again would not help, so the permanent error to record is returned."""
    try:
        with transaction.atomic():  # a savepoint: effects that fail roll back alone
            apply()
    except Exception as effect_error:
        logger.exception("%s call %s succeeded but applying it to the %s failed", who.capitalize(), call.pk, subject)
        return PermanentModuleError(
            f"The {who} did it ({summary.get('message') or call.action}), but the portal could not apply it to the "
            f"{subject} ({type(effect_error).__name__}: {effect_error}). Check the {subject}, then mark this call "
            "resolved."
        )
    call.result = summary
    call.response_excerpt = json.dumps(summary, default=str, sort_keys=True)[:4000]
    apply_transition(call.succeed, label="recorded as succeeded", at=now)
    call.save()
    return None


def call_failure_recorded(call: ModuleCall, error: ModuleError, *, now) -> tuple[str, bool]:
    """Record `error` on the (locked, Running) call and save it: Retrying with its next attempt, or Failed.
    Returns the message kept and whether it gave up (waits for an admin)."""
    message = error.message[:2000]
    gave_up = not error.transient or call.attempts >= settings.PORTAL_MODULE_RETRY_LIMIT
    if gave_up:
        apply_transition(call.fail, label="recorded as failed", error=message, transient=error.transient, at=now)
    else:
        wait = backoff(
            call.attempts,
            base_seconds=settings.PORTAL_MODULE_RETRY_BASE_SECONDS,
            max_seconds=settings.PORTAL_MODULE_RETRY_MAX_SECONDS,
        )
        apply_transition(call.wait_to_retry, label="set to retry", error=message, at=now, next_attempt_at=now + wait)
    call.response_excerpt = message
    call.save()
    if not gave_up:
        send_retry_after_commit(call)
    return message, gave_up


def send_retry_after_commit(call: ModuleCall) -> None:
    """The retry's task, with its countdown, after commit; the sweep sends it too if this one is lost. In-process
    (no broker) a countdown would run it at once: the sweep (beat, the run) picks it up when it is due."""
    if settings.CELERY_TASK_ALWAYS_EAGER:
        return
    countdown = max(0.0, (call.next_attempt_at - timezone.now()).total_seconds())
    send_after_commit(current_app.tasks[RUN_TASK], call.pk, countdown=countdown)
