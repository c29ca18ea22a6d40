"""Running the same work in several threads at once, each with its own database connection (PostgreSQL)."""

import threading

from django.db import connection


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
