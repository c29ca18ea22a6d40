"""The no-op task of bench/provisioning.py, loaded into its worker with --include: the floor of a round trip
through the broker and the worker, with nothing of ours in it."""

from celery import shared_task


@shared_task(name="bench.noop")
def noop() -> str:
    return "pong"
