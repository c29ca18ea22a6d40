"""How long to wait before trying again: doubling from a base up to a cap, with "equal jitter" (half of it fixed,
half random), so calls that failed together do not all retry at the same moment."""

from __future__ import annotations

import datetime
import random


def backoff(attempts: int, *, base_seconds: float, max_seconds: float) -> datetime.timedelta:
    """The wait after the `attempts`-th failure (1 for the first)."""
    delay = min(max_seconds, base_seconds * 2 ** max(0, attempts - 1))
    return datetime.timedelta(seconds=delay / 2 + random.uniform(0, delay / 2))
