"""The module queue's Celery tasks, on the `provisioning` queue (CELERY_TASK_ROUTES). acks_late with
reject_on_worker_lost: a worker killed inside a call leaves its message to be delivered again, and the runner
(advisory lock, Running state) makes the repeat finish the call instead of making a second one."""

from __future__ import annotations

from celery import shared_task

from provisioning.queue import registrar_poll, runner, sweep


@shared_task(name="provisioning.module_call_run", acks_late=True, reject_on_worker_lost=True)
def module_call_run(call_id: int) -> str:
    return runner.module_call_run(call_id).result.value


@shared_task(name="provisioning.module_calls_run", acks_late=True, reject_on_worker_lost=True)
def module_calls_run(call_ids: list[int]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for call_id in call_ids:
        result = runner.module_call_run(call_id).result.value
        counts[result] = counts.get(result, 0) + 1
    return counts


@shared_task(name="provisioning.module_calls_sweep")
def module_calls_sweep() -> int:
    return sweep.module_calls_sweep().sent


@shared_task(name="provisioning.registrar_poll_run", acks_late=True, reject_on_worker_lost=True)
def registrar_poll_run(poll_id: int) -> str:
    """Read one registrar configuration's message queue (a RegistrarPoll the run's registrar_poll step wrote)."""
    return registrar_poll.registrar_poll_run(poll_id).result.value
