"""Sending a Celery task once the transaction commits, without letting a broker outage turn a committed change
into an error. The work a lost task would have done is kept in the database (the event outbox, the webhook
deliveries, the queued emails), where a sweep finds it."""

from __future__ import annotations

import logging

from django.db import transaction
from kombu.exceptions import OperationalError

logger = logging.getLogger("portal.broker")


def send_after_commit(task, *args, countdown: float | None = None) -> None:
    """`task.delay(*args)` (with `countdown`: `apply_async` that many seconds later) once the transaction commits.
    A broker that cannot take it (Redis down) is logged, not raised: the change has committed and what the task
    would do is in the database, where the sweep finds it."""

    def send() -> None:
        try:
            if countdown is None:
                task.delay(*args)
            else:
                task.apply_async(args, countdown=countdown)
        except OperationalError:
            logger.warning("The broker refused %s%r; the sweep will send it later.", task.name, args)

    send.task_name = task.name  # for tests that look at what a transaction will send
    transaction.on_commit(send)
