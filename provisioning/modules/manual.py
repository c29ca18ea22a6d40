"""Manual: no server is driven. Each action succeeds at once and files a to-do for an admin, who does the work by
hand and marks the to-do done (Provisioning > To-dos). The service's status follows the action as with any module."""

from __future__ import annotations

from provisioning.modules.base import (
    AccountDetails,
    ConnectionOk,
    Done,
    Module,
    ModuleContext,
    Setting,
)
from provisioning.modules.registry import register


def _what(context: ModuleContext) -> str:
    service = context.service
    if service is None:
        return "the service"
    return f"service #{service.service_id} ({service.product_name}{', ' + service.domain if service.domain else ''})"


@register
class ManualModule(Module):
    name = "manual"
    label = "Manual (an admin does it by hand)"
    needs_server = False
    product_settings = (
        Setting(
            "instructions",
            "Instructions",
            help="Shown on each to-do: what the admin does to set up, suspend or remove an account of this product.",
            max_length=500,
        ),
    )

    def _todo(self, context: ModuleContext, words: str) -> str:
        instructions = context.product_settings.get("instructions") or ""
        return f"{words} for {_what(context)}" + (f". {instructions}" if instructions else ".")

    def create(self, context: ModuleContext) -> AccountDetails:
        service = context.service
        username = (service.username if service and service.username else "") or (
            self.suggest_username(service) if service else ""
        )
        return AccountDetails(
            username=username,
            message="Filed a to-do for an admin to set the account up by hand.",
            todo=self._todo(context, "Set up the account"),
        )

    def suspend(self, context: ModuleContext) -> Done:
        reason = context.params.get("reason") or "no reason given"
        return Done("Filed a to-do to suspend by hand.", todo=self._todo(context, f"Suspend ({reason})"))

    def unsuspend(self, context: ModuleContext) -> Done:
        return Done("Filed a to-do to unsuspend by hand.", todo=self._todo(context, "Unsuspend"))

    def terminate(self, context: ModuleContext) -> Done:
        return Done("Filed a to-do to remove the account by hand.", todo=self._todo(context, "Remove the account"))

    def change_package(self, context: ModuleContext) -> Done:
        return Done("Filed a to-do to change the package by hand.", todo=self._todo(context, "Change the package"))

    def change_password(self, context: ModuleContext) -> Done:
        return Done(
            "Filed a to-do to set the new password by hand.",
            todo=self._todo(context, "Set the new password (shown on the service page)"),
        )

    def test_connection(self, context: ModuleContext) -> ConnectionOk:
        return ConnectionOk("The manual module has no server to reach.")
