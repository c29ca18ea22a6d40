"""What a module call gets: the service's snapshot and the server with their secrets decrypted, the product's
module settings and the call's own parameters, as plain values (provisioning.modules.base.ModuleContext)."""

from __future__ import annotations

from core import crypto
from provisioning.models import ModuleCall, Service
from provisioning.modules.base import Action, ModuleContext, ServiceSnapshot
from provisioning.queue.requests import call_params
from provisioning.servers import server_info


def service_snapshot(service: Service) -> ServiceSnapshot:
    return ServiceSnapshot(
        service_id=service.pk,
        client_id=service.client_id,
        product_name=service.product.name,
        domain=service.domain,
        username=service.username,
        password=crypto.decrypt(service.password_token),
        client_email=service.client.email,
        account={str(key): str(value) for key, value in (service.account or {}).items()},
    )


def call_context(call: ModuleCall, service: Service) -> ModuleContext:
    """The context of `call` for `service` (whose product, client and server the caller loaded)."""
    return ModuleContext(
        action=Action(call.action),
        service=service_snapshot(service),
        server=server_info(service.server) if service.server_id else None,
        product_settings=dict(service.module_settings or {}),
        idempotency_key=call.idempotency_key,
        params=call_params(call),
    )
