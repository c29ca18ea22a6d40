"""Setting a service up: with its module (a create call in the module queue; the service becomes Active when it
succeeds) or without (Active at once). The admin's accept form may choose the server, the username and the
password; auto-setup (on order, on payment, on accept) uses the defaults."""

from __future__ import annotations

from django.core.exceptions import ValidationError

from core import crypto
from notifications.services import Actor
from provisioning.models import Server, Service
from provisioning.modules import registry
from provisioning.modules.base import Action, ModuleError
from provisioning.outcomes import ServiceActivated, Setup, WelcomeEmail
from provisioning.queue.requests import create_key, module_call_request
from provisioning.services.common import item_log
from provisioning.services.services import service_activate


def service_setup(
    *,
    service: Service,
    actor: Actor,
    run_module_create: bool = True,
    send_welcome_email: bool = True,
    server_id: int | None = None,
    username: str = "",
    password: str = "",
) -> ServiceActivated:
    """Set up this Pending service (locked by the caller). Bad choices (a server of another module or inactive,
    a username the module's servers refuse) are refused with a ValidationError before anything is written."""
    if service.status != Service.Status.PENDING:
        raise ValidationError(f"{service} is {service.get_status_display()}: only a Pending service is set up.")
    if not run_module_create:
        return service_activate(
            service=service, send_welcome_email=send_welcome_email, actor=actor, setup=Setup.MODULE_NOT_ASKED
        )
    if not service.module:
        return service_activate(service=service, send_welcome_email=send_welcome_email, actor=actor)
    try:
        module = registry.module_for(service.module)
    except registry.UnknownModule as error:
        raise ValidationError(f"{service}: {error}") from None
    changed: list[str] = []
    if server_id:
        server = Server.objects.filter(pk=server_id).first()
        if server is None or server.module != service.module:
            raise ValidationError(f"Choose a server of the {module.label} module for {service}.")
        if not server.is_active:
            raise ValidationError(f"{server} is not active: no new accounts go to it.")
        if service.server_id != server.pk:
            service.server, changed = server, [*changed, "server"]
    username = (username or "").strip()
    if username and username != service.username:
        try:
            module.check_name(username)
        except ModuleError as error:
            raise ValidationError(error.message) from None
        service.username, changed = username, [*changed, "username"]
    if password:
        service.password_token, changed = crypto.encrypt(password), [*changed, "password_token"]
    if changed:
        service.save(update_fields=changed)
    requested = module_call_request(
        service=service,
        action=Action.CREATE,
        actor=actor,
        key=create_key(service),
        params={"welcome": send_welcome_email},
    )
    outcome = ServiceActivated(
        setup=Setup.CREATE_QUEUED if requested.created else Setup.CREATE_ALREADY_QUEUED,
        welcome_email=WelcomeEmail.AFTER_CREATE if send_welcome_email else WelcomeEmail.NOT_ASKED,
        call_id=requested.call.pk,
    )
    if requested.created:
        item_log(actor, "service_setup_queued", service, f"{service}: module create queued (call #{requested.call.pk})")
    return outcome
