"""A step's batches in worker threads (automation.pool.run_batches and StepContext.each_batch): results in
batch order, a failing batch raised in the step's thread once the workers have stopped, inline with one worker."""

import datetime
import threading
import time

import pytest
from django.db import connection, connections, transaction

from automation import registry
from automation.pool import automation_workers, in_batches, run_batches
from automation.registry import StepContext

BATCHES = [[n, n + 100] for n in range(6)]


def test_results_come_back_in_batch_order_from_two_threads():
    both_running = threading.Barrier(2, timeout=5)  # the first two batches run at the same time, or this fails
    threads = {}

    def work(batch):
        threads[batch[0]] = threading.current_thread()
        if batch[0] < 2:
            both_running.wait()
        time.sleep(0.005 * (6 - batch[0]))  # later batches finish sooner
        return sum(batch)

    results = list(run_batches(work, BATCHES, workers=2))

    assert results == [([n, n + 100], 2 * n + 100) for n in range(6)]
    assert threads[0] is not threads[1]
    assert {thread.name for thread in threads.values()} <= {"automation-0", "automation-1"}
    assert threading.current_thread() not in threads.values()
    assert not any(thread.is_alive() for thread in threads.values())


def test_a_failing_batch_is_raised_in_the_caller_after_the_workers_stop():
    second_started = threading.Event()
    started, finished, seen = [], [], []
    threads = []

    def work(batch):
        started.append(batch[0])
        threads.append(threading.current_thread())
        if batch[0] == 0:
            assert second_started.wait(timeout=5)  # the other worker has taken batch 1
            raise RuntimeError("batch 0 broke")
        second_started.set()
        time.sleep(0.2)
        finished.append(batch[0])
        return batch[0]

    with pytest.raises(RuntimeError, match="batch 0 broke"):
        for _batch, result in run_batches(work, BATCHES, workers=2):
            seen.append(result)
    # Raised only once the batch the other worker had begun was done, and no batch started after the failure.
    assert finished == [1]
    assert sorted(started) == [0, 1]
    # Batch 1 committed while batch 0 failed: it is handed out (its counts are real), then the failure raised.
    assert seen == [1]
    assert not any(thread.is_alive() for thread in threads)


def test_a_failure_after_good_batches_hands_out_the_good_ones_first():
    def work(batch):
        if batch[0] == 3:
            raise ValueError("bad batch")
        return batch[0]

    seen = []
    with pytest.raises(ValueError, match="bad batch"):
        for _batch, result in run_batches(work, BATCHES, workers=2):
            seen.append(result)
    assert seen == [0, 1, 2]


def test_leaving_early_stops_the_workers():
    threads = []

    def work(batch):
        threads.append(threading.current_thread())
        time.sleep(0.01)
        return batch[0]

    batches = run_batches(work, [[n] for n in range(50)], workers=2)
    assert next(batches) == ([0], 0)
    batches.close()
    assert threads and not any(thread.is_alive() for thread in threads)
    assert len(threads) < 50  # the remaining batches were never started


def test_one_worker_runs_each_batch_inline_as_it_is_asked_for():
    calls = []

    def work(batch):
        calls.append((batch[0], threading.current_thread()))
        return -batch[0]

    batches = run_batches(work, iter(BATCHES), workers=1)
    assert calls == []  # nothing runs before the first batch is asked for
    assert next(batches) == ([0, 100], 0)
    assert calls == [(0, threading.current_thread())]
    assert list(batches) == [([n, n + 100], -n) for n in range(1, 6)]
    assert [thread for _, thread in calls] == [threading.current_thread()] * 6


def test_one_worker_raises_a_failure_at_once():
    calls = []

    def work(batch):
        calls.append(batch[0])
        if batch[0] == 1:
            raise KeyError("one")
        return batch[0]

    with pytest.raises(KeyError):
        list(run_batches(work, BATCHES, workers=1))
    assert calls == [0, 1]


def test_each_batch_yields_in_order_and_reports_progress(monkeypatch):
    monkeypatch.setattr(registry, "automation_workers", lambda: 2)
    progress = []
    context = StepContext(
        step="probe",
        today=datetime.date(2027, 1, 1),
        dry_run=False,
        _progress=lambda step, done, total: progress.append((step, done, total)),
    )
    workers = set()

    def work(batch):
        workers.add(threading.current_thread().name)
        time.sleep(0.002 * (10 - batch[0]))
        return [n * 10 for n in batch]

    results = list(context.each_batch(list(range(10)), 3, work))

    assert results == [
        ([0, 1, 2], [0, 10, 20]),
        ([3, 4, 5], [30, 40, 50]),
        ([6, 7, 8], [60, 70, 80]),
        ([9], [90]),
    ]
    assert progress == [("probe", 3, 10), ("probe", 6, 10), ("probe", 9, 10), ("probe", 10, 10)]
    assert workers <= {"automation-0", "automation-1"} and workers
    assert list(in_batches([1, 2, 3, 4, 5], 2)) == [[1, 2], [3, 4], [5]]


@pytest.mark.django_db
def test_inside_a_transaction_or_on_sqlite_the_batches_run_in_the_steps_thread():
    assert connection.in_atomic_block  # the test's own transaction
    assert automation_workers() == 1
    context = StepContext(step="probe", today=datetime.date(2027, 1, 1), dry_run=True)
    threads = {threading.current_thread() for _ in context.each_batch([1, 2, 3], 1, lambda batch: None)}
    assert threads == {threading.current_thread()}


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_on_postgresql_each_worker_uses_and_closes_its_own_connection(settings):
    settings.AUTOMATION_WORKERS = 2
    assert not connection.in_atomic_block
    assert automation_workers() == 2
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        own_pid = cursor.fetchone()[0]
    used = {}
    both_running = threading.Barrier(2, timeout=5)

    def work(batch):
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("SELECT pg_backend_pid()")
            pid = cursor.fetchone()[0]
        used[batch[0]] = (connections["default"], pid)
        if batch[0] < 2:
            both_running.wait()
        return pid

    context = StepContext(step="probe", today=datetime.date(2027, 1, 1), dry_run=False)
    results = list(context.each_batch(list(range(4)), 1, work))

    assert [pid for _, pid in results] == [used[n][1] for n in range(4)]
    wrappers = {id(wrapper): wrapper for wrapper, _ in used.values()}
    pids = {pid for _, pid in used.values()}
    assert len(wrappers) == 2 and len(pids) == 2 and own_pid not in pids  # two threads, two connections
    assert all(wrapper.connection is None for wrapper in wrappers.values())  # each closed by its thread
    assert connection.connection is not None  # the step's own connection is left open

    deadline = time.monotonic() + 5
    while True:  # the server ends the workers' sessions
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE pid = ANY(%s)", [list(pids)])
            alive = cursor.fetchone()[0]
        if alive == 0 or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert alive == 0
