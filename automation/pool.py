"""The worker pool of a step's batches: up to AUTOMATION_WORKERS threads, each with its own database connection,
take a step's batches in turn; their results come back in batch order, in the step's thread."""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterable, Iterator

from django.db import connection


def automation_workers() -> int:
    """How many batches of a step run at once (settings.AUTOMATION_WORKERS, default 2: a small two-core host).
    Each worker is a thread with its own database connection; while one waits for PostgreSQL, the other runs
    its Python. Only on PostgreSQL and outside a transaction: a dry run (one transaction rolled back) and a
    test inside a transaction run their batches one after the other on their own connection."""
    if connection.vendor != "postgresql" or connection.in_atomic_block:
        return 1
    from django.conf import settings

    return max(1, settings.AUTOMATION_WORKERS)


def in_batches(ids: list[int], size: int) -> Iterator[list[int]]:
    """Consecutive slices of `ids`: a step locks, changes and commits one batch at a time."""
    for start in range(0, len(ids), size):
        yield ids[start : start + size]


def run_batches(work: Callable[[list], object], batches: Iterable[list], *, workers: int) -> Iterator:
    """(batch, work(batch)) in batch order, with up to `workers` threads taking batches in turn. Each thread
    closes its database connection when the batches run out. A batch that raises stops the others from starting;
    the batches the other threads had begun are finished and handed out, then the exception is raised here."""
    batches = list(batches)
    # A worker opens a connection of its own: for a single batch (most days of a small provider) that costs more
    # than it saves, so one batch runs here.
    workers = min(workers, len(batches))
    if workers <= 1:
        for batch in batches:
            yield batch, work(batch)
        return
    jobs: queue.SimpleQueue = queue.SimpleQueue()
    results: queue.SimpleQueue = queue.SimpleQueue()
    for index, batch in enumerate(batches):
        jobs.put((index, batch))
    stop = threading.Event()

    def worker() -> None:
        try:
            while not stop.is_set():
                try:
                    index, batch = jobs.get_nowait()
                except queue.Empty:
                    return
                try:
                    results.put((index, work(batch), None))
                except BaseException as failure:  # handed to the step's thread, which raises it
                    stop.set()
                    results.put((index, None, failure))
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, name=f"automation-{n}", daemon=True) for n in range(workers)]
    for thread in threads:
        thread.start()
    try:
        finished: dict[int, tuple] = {}
        for next_index in range(len(batches)):
            while next_index not in finished:
                index, result, failure = results.get()
                finished[index] = (result, failure)
            result, failure = finished.pop(next_index)
            if failure is not None:
                # The other workers finish the batches they began, and those commit: they are handed out (their
                # counts and lines are real) before the failure is raised.
                stop.set()
                for thread in threads:
                    thread.join()
                while not results.empty():
                    index, result, other = results.get()
                    finished[index] = (result, other)
                for index in sorted(finished):
                    if finished[index][1] is None:
                        yield batches[index], finished[index][0]
                raise failure
            yield batches[next_index], result
    finally:
        stop.set()
        for thread in threads:
            thread.join()
