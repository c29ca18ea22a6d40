"""The advisory locks of the run: one per step, so two overlapping runs never do the same step at once."""

from __future__ import annotations

import zlib
from collections.abc import Iterator
from contextlib import contextmanager

from django.db import connection


@contextmanager
def step_lock(name: str) -> Iterator[bool]:
    """On PostgreSQL, a session advisory lock per step, held across the step's own commits; yields whether it
    was taken. SQLite takes one writer at a time anyway, and the unique keys keep a repeated step harmless."""
    if connection.vendor != "postgresql":
        yield True
        return
    key = zlib.crc32(f"automation-step:{name}".encode())
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s)", [key])
        held = cursor.fetchone()[0]
    try:
        yield held
    finally:
        if held:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_unlock(%s)", [key])
