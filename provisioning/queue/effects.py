"""What a module call's outcome does to its service, in the transaction that records the outcome.

- create succeeded: the account is kept (username, the password encrypted, the connection details) and a Pending
  service becomes Active (its welcome email queued when asked). A service that was cancelled or marked fraud while
  its create ran gets a terminate call, so no account is left on a server for a service nobody pays for.
- change password / change package succeeded: the new password (encrypted) or package settings are the
  service's. terminate succeeded: the password is forgotten (the account is gone).
- usage: the day's figures (ServiceUsage, once per day).
- a to-do the module left (the Manual module): a ModuleTodo for the admins.
- a failed create leaves the service Pending: the call's error is the reason the service page shows.
"""

from __future__ import annotations

from django.utils import timezone

from core import crypto
from provisioning.models import ModuleCall, ModuleTodo, Service, ServiceUsage
from provisioning.modules.base import AccountDetails, Action, Done, Result, Usage
from provisioning.outcomes import Setup
from provisioning.queue.requests import action_key, call_params, module_call_request
from provisioning.services.services import service_activate

# Statuses in which a service that just got an account must lose it again.
ENDED = (Service.Status.CANCELLED, Service.Status.FRAUD, Service.Status.TERMINATED)


def call_succeeded(call: ModuleCall, service: Service, result: Result) -> None:
    """Apply a successful call (the caller holds the service's and the call's locks)."""
    action = Action(call.action)
    todo = getattr(result, "todo", "")
    if todo:
        # Once: a call's success is recorded once (its row is locked and Succeeded after), and the one-to-one
        # key refuses a second to-do; a clash would fail the effects' savepoint, never make two.
        ModuleTodo.objects.create(call=call, service=service, text=todo)
    if action is Action.CREATE and isinstance(result, AccountDetails):
        _account_created(call, service, result)
    elif action is Action.CHANGE_PASSWORD:
        service.password_token = crypto.encrypt(str(call_params(call).get("password", "")))
        service.save(update_fields=["password_token"])
    elif action is Action.CHANGE_PACKAGE:
        service.module_settings = dict(call_params(call).get("settings") or {})
        service.save(update_fields=["module_settings"])
    elif action is Action.TERMINATE:
        service.password_token = ""
        service.save(update_fields=["password_token"])
    elif action is Action.USAGE and isinstance(result, Usage):
        ServiceUsage.objects.update_or_create(
            service=service,
            recorded_on=timezone.localdate(),
            defaults={"figures": result.figures, "limits": result.limits, "recorded_at": timezone.now()},
        )
    if isinstance(result, Done) and result.extra:
        service.account = {**(service.account or {}), **result.extra}
        service.save(update_fields=["account"])


def _account_created(call: ModuleCall, service: Service, result: AccountDetails) -> None:
    service.username = result.username or service.username
    if result.password:
        service.password_token = crypto.encrypt(result.password)
    details = {"host": result.host, **({"port": str(result.port)} if result.port else {}), **result.extra}
    service.account = {key: str(value) for key, value in details.items() if value not in (None, "")}
    service.save(update_fields=["username", "password_token", "account"])
    if service.status == Service.Status.PENDING:
        service_activate(
            service=service,
            send_welcome_email=bool(call_params(call).get("welcome", True)),
            actor=None,
            setup=Setup.MODULE_RAN,
        )
    elif service.status in ENDED:
        module_call_request(
            service=service,
            action=Action.TERMINATE,
            actor=None,
            key=action_key(service.pk, Action.TERMINATE, f"after-create-{call.pk}"),
            params={"reason": f"the service was {service.get_status_display().lower()} while it was being set up"},
        )
