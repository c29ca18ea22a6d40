"""Running the same work in several threads at once, each with its own database connection (PostgreSQL)."""

import threading
import time

from django.db import connection, transaction


def at_once(work, *, times: int = 2, timeout: float = 120) -> list:
    """Start `work()` in `times` threads at the same moment; return their results. A crash in a thread fails
    the caller's test instead of vanishing with the thread."""
    barrier = threading.Barrier(times)
    results, crashes = [], []

    def run():
        try:
            barrier.wait(10)
            results.append(work())
        except Exception as error:  # collected and reported below
            crashes.append(repr(error))
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(times)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout)
    assert not any(thread.is_alive() for thread in threads), "a thread hung (deadlock?)"
    assert crashes == [], crashes
    return results


def _waits_for_a_lock(backend_pid: int) -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT EXISTS (SELECT 1 FROM pg_locks WHERE pid = %s AND NOT granted)", [backend_pid])
        return cursor.fetchone()[0]


class Overlap:
    """Two transactions overlapped on purpose, in a fixed order (PostgreSQL), instead of left to timing.

    `run(first, second)`: `first()` runs in a thread inside a transaction; at its pause point it stops, with
    its transaction open, and `second()` runs in another thread; the first goes on (and commits) only once the
    second waits for a lock of the database or has finished. So the second always finds the first's work done
    up to that point but not committed: what a guard (a lock, a unique key) must stop. The pause point is where
    the first thread calls `pause()` (from a call-through wrapper at a seam), else the end of `first()`. Returns
    (first's result, second's result); a crash in either thread fails the caller's test."""

    def __init__(self, *, timeout: float = 5):
        self.timeout = timeout
        self._first_thread: threading.Thread | None = None
        self._paused, self._go_on = threading.Event(), threading.Event()

    def pause(self) -> None:
        """Called at the seam: pauses the first thread, once; does nothing in any other thread."""
        if threading.current_thread() is not self._first_thread or self._paused.is_set():
            return
        self._paused.set()
        if not self._go_on.wait(self.timeout):
            raise TimeoutError("the second transaction neither waited for a lock nor finished")

    def run(self, first, second) -> tuple:
        results, crashes, second_pid = {}, [], []

        def run_first():
            try:
                with transaction.atomic():
                    results["first"] = first()
                    self.pause()
            except Exception as error:  # collected and reported below
                crashes.append(f"first: {error!r}")
            finally:
                self._paused.set()
                connection.close()

        def run_second():
            try:
                with connection.cursor() as cursor:
                    cursor.execute("SELECT pg_backend_pid()")
                    second_pid.append(cursor.fetchone()[0])
                results["second"] = second()
            except Exception as error:  # collected and reported below
                crashes.append(f"second: {error!r}")
            finally:
                connection.close()

        self._first_thread = threading.Thread(target=run_first)
        self._first_thread.start()
        self._paused.wait(self.timeout)
        second_thread = threading.Thread(target=run_second)
        second_thread.start()
        deadline = time.monotonic() + self.timeout
        while second_thread.is_alive() and time.monotonic() < deadline:
            if second_pid and _waits_for_a_lock(second_pid[0]):
                break
            time.sleep(0.01)
        self._go_on.set()
        self._first_thread.join(self.timeout)
        second_thread.join(self.timeout)
        assert not self._first_thread.is_alive() and not second_thread.is_alive(), "a thread hung (deadlock?)"
        assert crashes == [], crashes
        return results["first"], results["second"]


def second_inside_first(first, second, *, timeout: float = 5) -> tuple:
    """Overlap.run with the first paused at the end of its work, its transaction still open."""
    return Overlap(timeout=timeout).run(first, second)


def in_another_thread(work):
    """Run `work()` to its end in a thread of its own (its own connection, its own commit); return its result."""
    return at_once(work, times=1)[0]
