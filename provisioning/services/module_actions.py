"""An admin's or a client's module actions on one service: suspend (abuse or admin), unsuspend, terminate, change
package, change password. The status moves through the Service FSM here, at once; the module call that carries it
out on the server follows through the queue. A double submit of a status move is refused by the FSM (the service
has moved); the other actions are asked once per `nonce` (a form's one-time token). Each action is refused with a
ValidationError, changing nothing, when the FSM does not allow it from the service's state or its input is bad."""

from __future__ import annotations

import secrets
import string
from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from core import crypto
from notifications.services import Actor, activity_record
from provisioning.models import ModuleCall, Service
from provisioning.modules import registry
from provisioning.modules.base import Action, SettingsInvalid, settings_clean
from provisioning.queue.requests import action_key, module_call_request
from provisioning.services.common import services_move_many

ADMIN_SUSPENSION_REASONS = (Service.SuspensionReason.ABUSE, Service.SuspensionReason.ADMIN)
PASSWORD_MIN_LENGTH = 12
PASSWORD_MAX_LENGTH = 64
_ALPHABET = string.ascii_letters + string.digits


def _locked(service_id: int) -> Service:
    try:
        return Service.objects.select_for_update(of=("self",)).select_related("product").get(pk=service_id)
    except Service.DoesNotExist:
        raise ValidationError("That service no longer exists.") from None


def _refused(service: Service, what: str) -> ValidationError:
    return ValidationError(f"{service} is {service.get_status_display()} and cannot be {what}.")


def _call(service: Service, action: Action, nonce: str, actor: Actor, params: dict) -> ModuleCall | None:
    if not service.module:
        return None
    return module_call_request(
        service=service, action=action, actor=actor, key=action_key(service.pk, action, nonce), params=params
    ).call


def service_suspend(*, service_id: int, reason: str, actor: Actor) -> ModuleCall | None:
    """Active → Suspended for abuse or by an admin (a payment never lifts these)."""
    if reason not in ADMIN_SUSPENSION_REASONS:
        raise ValidationError("Choose why: abuse, or suspended by an admin.")
    with transaction.atomic():
        service = _locked(service_id)
        if service.status != Service.Status.ACTIVE:
            raise _refused(service, "suspended")
        words = Service.SuspensionReason(reason).label.lower()
        services_move_many(
            [service.pk],
            "suspend",
            {"reason": reason},
            action="service_suspended",
            event="ServiceSuspended",
            says=f" suspended: {words}",
            actor=actor,
            reason=reason,
            email="service_suspended",
        )
        return _latest_call(service, Action.SUSPEND)


def service_unsuspend(*, service_id: int, actor: Actor) -> ModuleCall | None:
    with transaction.atomic():
        service = _locked(service_id)
        if service.status != Service.Status.SUSPENDED:
            raise _refused(service, "unsuspended")
        services_move_many(
            [service.pk],
            "unsuspend",
            {},
            action="service_unsuspended",
            event="ServiceUnsuspended",
            says=" unsuspended by an admin",
            actor=actor,
            reason="admin",
            email="service_unsuspended",
        )
        return _latest_call(service, Action.UNSUSPEND)


def service_terminate(*, service_id: int, actor: Actor, on=None) -> ModuleCall | None:
    with transaction.atomic():
        service = _locked(service_id)
        if service.status not in (Service.Status.ACTIVE, Service.Status.SUSPENDED):
            raise _refused(service, "terminated")
        day = on or timezone.localdate()
        services_move_many(
            [service.pk],
            "terminate",
            {"on": day},
            action="service_terminated",
            event="ServiceTerminated",
            says=f" terminated on {day} by an admin",
            actor=actor,
            reason="admin",
            email="service_terminated",
        )
        return _latest_call(service, Action.TERMINATE)


def _latest_call(service: Service, action: Action) -> ModuleCall | None:
    return ModuleCall.objects.filter(service=service, action=action.value).order_by("-pk").first()


def service_package_change(*, service_id: int, settings: dict, actor: Actor, nonce: str) -> ModuleCall:
    """New package settings for a live service, checked against its module's declaration; the service keeps
    them when the module's change succeeds."""
    with transaction.atomic():
        service = _locked(service_id)
        if service.status not in (Service.Status.ACTIVE, Service.Status.SUSPENDED):
            raise _refused(service, "changed to another package")
        module_class = registry.module_class(service.module)
        if module_class is None:
            raise ValidationError(f"{service} has no provisioning module: there is no package to change.")
        try:
            cleaned = settings_clean(module_class.product_settings, settings)
        except SettingsInvalid as invalid:
            raise ValidationError(dict(invalid.errors.items())) from None
        return _call(service, Action.CHANGE_PACKAGE, nonce, actor, {"settings": cleaned})


@dataclass(frozen=True)
class PasswordChange:
    password: str  # shown once to whoever asked; stored encrypted when the module has set it
    call: ModuleCall


def password_generate(length: int = 20) -> str:
    return "".join(secrets.choice(_ALPHABET) for _ in range(length))


def password_check(password: str) -> str:
    if not isinstance(password, str) or not (PASSWORD_MIN_LENGTH <= len(password) <= PASSWORD_MAX_LENGTH):
        raise ValidationError(
            f"A password needs {PASSWORD_MIN_LENGTH} to {PASSWORD_MAX_LENGTH} characters.", code="password"
        )
    if any(ord(char) < 33 or ord(char) == 127 for char in password):
        raise ValidationError("A password may not contain spaces or control characters.", code="password")
    return password


def service_password_change(
    *, service_id: int, actor: Actor, nonce: str, password: str = "", client_id: int | None = None
) -> PasswordChange:
    """A new password for the service's account: the one given (checked) or a generated one. `client_id`, for
    the client area: the service must be that client's. The same nonce again returns the same call (and no
    password: it was shown once)."""
    password = password_check(password) if password else password_generate()
    with transaction.atomic():
        service = _locked(service_id)
        if client_id is not None and service.client_id != client_id:
            raise ValidationError("That service no longer exists.")
        if service.status != Service.Status.ACTIVE:
            raise _refused(service, "given a new password")
        if not service.module:
            raise ValidationError(f"{service} has no provisioning module: there is no account to set a password on.")
        requested = module_call_request(
            service=service,
            action=Action.CHANGE_PASSWORD,
            actor=actor,
            key=action_key(service.pk, Action.CHANGE_PASSWORD, nonce),
            params={"password": password},
        )
        return PasswordChange(password if requested.created else "", requested.call)


def service_password_reveal(*, service_id: int, actor: Actor) -> str:
    """The account's stored password, for an admin allowed to see it (the caller checks the permission); every
    reveal is written to the activity log with who asked."""
    service = Service.objects.filter(pk=service_id).first()
    if service is None:
        raise ValidationError("That service no longer exists.")
    try:
        password = crypto.decrypt(service.password_token)
    except crypto.SecretUnreadable:
        raise ValidationError("The stored password cannot be read with the current keys.") from None
    if not password:
        raise ValidationError(f"{service} has no stored password.")
    activity_record(
        actor=actor,
        action="service_password_revealed",
        subject=service,
        client_id=service.client_id,
        message=f"Revealed the account password of {service}.",
    )
    return password
