"""Two workers dispatching the same event at once: each handler still reacts once (PostgreSQL row locks)."""

import threading
import time

import pytest
from django.db import connection

from notifications.bus import dispatch, register, unregister
from notifications.models import Event, HandlerRun

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def test_concurrent_dispatch_runs_a_handler_once():
    calls = []

    def slow_handler(event):
        calls.append(event.pk)
        time.sleep(0.3)  # long enough for the second dispatcher to arrive while the first is running

    register("OrderCreated")(slow_handler)
    # Written directly, not emitted: emit() would dispatch it at once, and this test wants two dispatchers.
    event = Event.objects.create(name="OrderCreated", payload={"order_id": 1})
    barrier = threading.Barrier(2)

    def worker():
        try:
            barrier.wait(10)
            dispatch(event.pk)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(2)]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(20)
    finally:
        unregister("OrderCreated", slow_handler)

    assert calls == [event.pk]
    run = HandlerRun.objects.get(event=event, handler__endswith=".slow_handler")
    assert (run.status, run.attempts) == ("succeeded", 1)
