import pytest

from notifications.bus import register, unregister


@pytest.fixture
def handlers():
    """Register handlers for one test and remove them afterwards."""
    added = []

    def _add(event_name, priority=100):
        def decorator(func):
            register(event_name, priority=priority)(func)
            added.append((event_name, func))
            return func

        return decorator

    yield _add
    for event_name, func in added:
        unregister(event_name, func)
