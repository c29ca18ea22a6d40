"""Which active endpoints listen to an event, read cheaply enough to ask on every emit.

The active endpoints (a handful of rows) are read once per transaction: inside one atomic block every emit
after the first asks no query, so a batch of the automation run pays one small SELECT, and a system without
endpoints pays that SELECT once per transaction, not per event. Outside a transaction each call reads them (a
single indexed-free SELECT of a tiny table). A service that changes an endpoint clears the cache, so the same
transaction sees its own change; other transactions read the table afresh when they start."""

from __future__ import annotations

import threading
from dataclasses import dataclass

from django.db import connection

from notifications.webhook_models import WebhookEndpoint


@dataclass(frozen=True)
class ActiveEndpoint:
    id: int
    all_events: bool
    events: frozenset[str]

    def listens_to(self, event_name: str) -> bool:
        return self.all_events or event_name in self.events


_cache = threading.local()


def active_endpoints() -> list[ActiveEndpoint]:
    # The transaction is told by the outermost atomic block and the connection's list of on-commit callbacks: a
    # function decorated with @atomic enters the same Atomic object for every call, but Django starts a new list at
    # every commit and rollback. Both objects are kept (not their ids), so a later transaction is never mistaken
    # for this one; a rolled back savepoint also starts a new list, which only costs one more read.
    outermost = (
        (connection.atomic_blocks[0], connection.run_on_commit)
        if connection.in_atomic_block and connection.atomic_blocks
        else None
    )
    cached = getattr(_cache, "entry", None)
    if outermost is not None and cached is not None and all(a is b for a, b in zip(cached[0], outermost, strict=True)):
        return cached[1]
    rows = [
        ActiveEndpoint(id=pk, all_events=all_events, events=frozenset(events or ()))
        for pk, all_events, events in WebhookEndpoint.objects.filter(active=True)
        .order_by("id")
        .values_list("id", "all_events", "events")
    ]
    _cache.entry = (outermost, rows) if outermost is not None else None
    return rows


def endpoint_ids_for(event_name: str) -> list[int]:
    """The ids of the active endpoints subscribed to `event_name`."""
    return [endpoint.id for endpoint in active_endpoints() if endpoint.listens_to(event_name)]


def endpoints_changed() -> None:
    """Forget the cached endpoints (a service changed one)."""
    _cache.entry = None
