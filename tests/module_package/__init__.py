"""A third-party module package as a provider would write one: named in PORTAL_MODULE_PACKAGES (the test
settings), it registers its module when imported. Its module does what its product settings say, so the queue's
tests can drive each outcome of a real module call: succeed, fail transiently (`fail_times` times, then succeed),
fail for good, or hang. Every call it receives is written down in CALLS (action, idempotency key, params), and,
when SCRIPTED_MODULE_JOURNAL names a file, a line there (action, key, process id, Unix time) before it sleeps or
fails: a test that runs it in a worker process sees from outside that the call is inside the module."""

from __future__ import annotations

import os
import threading
import time

from provisioning.modules.base import (
    AccountDetails,
    Action,
    ConnectionOk,
    Done,
    Module,
    ModuleContext,
    PermanentModuleError,
    Setting,
    SettingType,
    TransientModuleError,
    Usage,
)
from provisioning.modules.registry import register

CALLS: list[tuple[str, str, dict]] = []
_attempts: dict[str, int] = {}
_lock = threading.Lock()


@register
class ScriptedModule(Module):
    name = "scripted"
    label = "Scripted (tests)"
    product_settings = (
        Setting(
            "fail", "Fail", SettingType.CHOICE, default="", choices=(("", "no"), ("transient", "t"), ("permanent", "p"))
        ),
        Setting("fail_times", "Fail how many times", SettingType.INTEGER, default=0, min_value=0, max_value=100),
        Setting("sleep", "Seconds to sleep in each call", SettingType.INTEGER, default=0, min_value=0, max_value=60),
        Setting("return_username", "The username create returns (blank: the service's or a suggested one)"),
    )
    server_settings = (Setting("region", "Region", default="eu"),)
    credential_fields = (Setting("api_token", "API token", SettingType.SECRET),)
    optional_actions = frozenset({Action.USAGE})

    def _act(self, context: ModuleContext) -> None:
        with _lock:
            CALLS.append((context.action.value, context.idempotency_key, dict(context.params)))
            _attempts[context.idempotency_key] = _attempts.get(context.idempotency_key, 0) + 1
            attempt = _attempts[context.idempotency_key]
            if journal := os.environ.get("SCRIPTED_MODULE_JOURNAL"):
                with open(journal, "a") as lines:
                    lines.write(f"{context.action.value} {context.idempotency_key} {os.getpid()} {time.time():.3f}\n")
        if context.product_settings.get("sleep"):
            time.sleep(int(context.product_settings["sleep"]))
        fail = context.product_settings.get("fail")
        if fail == "permanent":
            raise PermanentModuleError("The panel refused the account: the package does not exist.")
        if fail == "transient" and attempt <= int(context.product_settings.get("fail_times") or 0):
            raise TransientModuleError(f"The panel did not answer (attempt {attempt}).")

    def create(self, context: ModuleContext) -> AccountDetails:
        self._act(context)
        assert context.service is not None
        return AccountDetails(
            username=context.product_settings.get("return_username")
            or context.service.username
            or self.suggest_username(context.service),
            password="s3cret-from-module",
            host=context.server.hostname if context.server else "",
            port=5432,
            extra={"database": f"db{context.service.service_id}"},
        )

    def suspend(self, context: ModuleContext) -> Done:
        self._act(context)
        return Done("suspended")

    def unsuspend(self, context: ModuleContext) -> Done:
        self._act(context)
        return Done("unsuspended")

    def terminate(self, context: ModuleContext) -> Done:
        self._act(context)
        return Done("removed")

    def change_package(self, context: ModuleContext) -> Done:
        self._act(context)
        return Done("package changed")

    def change_password(self, context: ModuleContext) -> Done:
        self._act(context)
        return Done("password changed")

    def test_connection(self, context: ModuleContext) -> ConnectionOk:
        if not (context.server and context.server.credentials.get("api_token") == "right-token"):
            raise PermanentModuleError("The panel refused the API token.")
        return ConnectionOk(f"Connected to {context.server.hostname}.")

    def usage(self, context: ModuleContext) -> Usage:
        self._act(context)
        return Usage({"disk_bytes": 1234}, {"disk_bytes": 10_000})


def reset() -> None:
    with _lock:
        CALLS.clear()
        _attempts.clear()
