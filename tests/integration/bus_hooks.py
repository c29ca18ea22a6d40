"""A hook package for the worker-kill test, loaded by the worker through PORTAL_HOOK_PACKAGES: a handler that says
it started, blocks until the test says go (a file), then writes its effect in the handler's transaction."""

import os
import time
from pathlib import Path

from notifications.bus import register
from notifications.models import Event
from notifications.services import activity_record

EFFECT = "bus_test_effect"


@register("GatewayEventFailed")
def blocking_effect(event: Event) -> None:
    signals = Path(os.environ["BUS_TEST_SIGNALS"])
    (signals / f"started-{os.getpid()}").write_text(str(event.pk))
    while not (signals / "go").exists():  # the test kills this process here, or lets it go on
        time.sleep(0.05)
    activity_record(actor=None, action=EFFECT, subject=event, message=f"effect of {event}")
