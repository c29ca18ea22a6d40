"""manage.py module_call SERVICE_ID ACTION: one module action on one service, through the same queue the admin and
the automation run use (a create is the service's setup, a status move the service's FSM with its call), then the
call's outcome: run in-process without a broker, or by a worker, whose result is awaited on the call's row."""

from __future__ import annotations

import time

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from provisioning.models import ModuleCall, Service
from provisioning.modules.base import Action
from provisioning.queue.requests import action_key, module_call_request, new_nonce
from provisioning.services import service_setup
from provisioning.services.module_actions import (
    service_package_change,
    service_password_change,
    service_suspend,
    service_terminate,
    service_unsuspend,
)
from provisioning.wording import service_activated_words

ACTIONS = ("create", "suspend", "unsuspend", "terminate", "change_password", "change_package", "usage", "renew")
FINISHED = (ModuleCall.Status.SUCCEEDED, ModuleCall.Status.FAILED, ModuleCall.Status.RESOLVED)


class Command(BaseCommand):
    help = "Run one module action on a service through the module queue and print its outcome."

    def add_arguments(self, parser):
        parser.add_argument("service_id", type=int)
        parser.add_argument("action", choices=ACTIONS)
        parser.add_argument("--password", default="", help="change_password: the new password (default: generated)")
        parser.add_argument("--reason", default="admin", choices=("abuse", "admin"), help="suspend: why")
        parser.add_argument(
            "--setting",
            action="append",
            default=[],
            metavar="NAME=VALUE",
            help="change_package: a package setting (repeat); the others keep the service's values",
        )
        parser.add_argument("--wait", type=float, default=30.0, help="seconds to wait for a worker's result")

    def handle(self, *args, service_id: int, action: str, **options):
        try:
            call_id, said = self._ask(service_id, action, options)
        except ValidationError as error:
            raise CommandError(" ".join(error.messages)) from None
        if said:
            self.stdout.write(said)
        if call_id is None:
            self.stdout.write("No module call: the service has no provisioning module.")
            return
        call = self._await(call_id, options["wait"])
        self._report(call)
        if call.status == ModuleCall.Status.FAILED:
            raise CommandError(f"Module call #{call.pk} failed: {call.error}")

    def _ask(self, service_id: int, action: str, options) -> tuple[int | None, str]:
        if not Service.objects.filter(pk=service_id).exists():
            raise CommandError(f"There is no service #{service_id}.")
        if action == "create":
            with transaction.atomic():
                service = Service.objects.select_for_update(of=("self",)).select_related("product").get(pk=service_id)
                outcome = service_setup(service=service, actor=None)
            return outcome.call_id, f"{service}: {service_activated_words(outcome)}"
        if action == "suspend":
            return _id(service_suspend(service_id=service_id, reason=options["reason"], actor=None)), ""
        if action == "unsuspend":
            return _id(service_unsuspend(service_id=service_id, actor=None)), ""
        if action == "terminate":
            return _id(service_terminate(service_id=service_id, actor=None)), ""
        if action == "change_password":
            change = service_password_change(
                service_id=service_id, actor=None, nonce=new_nonce(), password=options["password"]
            )
            shown = f"The new password (shown once): {change.password}" if not options["password"] else ""
            return change.call.pk, shown
        if action == "change_package":
            service = Service.objects.get(pk=service_id)
            settings = {**service.module_settings, **_settings(options["setting"])}
            call = service_package_change(service_id=service_id, settings=settings, actor=None, nonce=new_nonce())
            return call.pk, ""
        with transaction.atomic():  # usage, renew: no status of the service moves
            service = Service.objects.select_for_update(of=("self",)).select_related("product").get(pk=service_id)
            if service.status not in (Service.Status.ACTIVE, Service.Status.SUSPENDED):
                raise CommandError(f"{service} is {service.get_status_display()}: it has no account to ask about.")
            key = action_key(service.pk, Action(action), new_nonce())
            return module_call_request(service=service, action=Action(action), actor=None, key=key).call.pk, ""

    def _await(self, call_id: int, wait: float) -> ModuleCall:
        deadline = time.monotonic() + max(wait, 0)
        while True:
            call = ModuleCall.objects.get(pk=call_id)
            if call.status in FINISHED or call.status == ModuleCall.Status.RETRYING or time.monotonic() >= deadline:
                return call
            time.sleep(0.2)

    def _report(self, call: ModuleCall) -> None:
        line = f"Module call #{call.pk} ({call.action}, attempt {call.attempts}): {call.get_status_display()}"
        if call.status == ModuleCall.Status.SUCCEEDED:
            shown = sorted((name, value) for name, value in call.result.items() if value not in ("", None))
            details = ", ".join(f"{name}: {value}" for name, value in shown)
            self.stdout.write(line + (f". {details}" if details else ""))
        elif call.status == ModuleCall.Status.RETRYING:
            self.stdout.write(f"{line}. {call.error} Next attempt at {call.next_attempt_at:%Y-%m-%d %H:%M:%S %Z}.")
        elif call.status in (ModuleCall.Status.QUEUED, ModuleCall.Status.RUNNING):
            self.stdout.write(f"{line}: no result yet; the provisioning worker has it (see the module queue).")
        else:
            self.stdout.write(f"{line}. {call.error}".rstrip(". ") if call.error else line)


def _id(call: ModuleCall | None) -> int | None:
    return call.pk if call is not None else None


def _settings(pairs: list[str]) -> dict[str, str]:
    settings = {}
    for pair in pairs:
        name, equals, value = pair.partition("=")
        if not equals or not name.strip():
            raise CommandError(f"--setting takes NAME=VALUE, not {pair!r}.")
        settings[name.strip()] = value
    return settings
