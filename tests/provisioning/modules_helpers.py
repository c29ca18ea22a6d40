"""What the auto-setup, automation and command tests share: a server group with a server of the 'scripted' test
module (tests/module_package), and products and services on it."""

from __future__ import annotations

from decimal import Decimal

from billing.cycles import BillingCycle
from core import crypto
from provisioning.models import Server, ServerGroup, Service
from tests.factories import PricingFactory, ProductFactory, ServiceFactory


def scripted_server(name: str = "panel-1", *, group: ServerGroup | None = None, active: bool = True) -> Server:
    group = group or ServerGroup.objects.create(name=f"{name} group")
    server = Server.objects.create(
        name=name,
        hostname=f"{name}.example.net",
        module="scripted",
        max_accounts=100,
        is_active=active,
        credentials_token=crypto.encrypt_json({"api_token": "right-token"}),
    )
    server.groups.add(group)
    return server


def scripted_product(group: ServerGroup, *, auto_setup: str, currency=None, **settings):
    product = ProductFactory(
        name="Panel hosting", module="scripted", server_group=group, module_settings=settings, auto_setup=auto_setup
    )
    if currency is not None:
        PricingFactory(product=product, currency=currency, billing_cycle=BillingCycle.MONTHLY, price=Decimal("5.00"))
    return product


def scripted_service(
    client, server: Server, *, status=Service.Status.ACTIVE, settings: dict | None = None, **fields
) -> Service:
    """A service of the scripted module on `server`; `settings` are its module settings (fail, fail_times...)."""
    settings = settings or {}
    product = scripted_product(server.groups.first(), auto_setup="never", **settings)
    return ServiceFactory(
        client=client,
        product=product,
        module="scripted",
        module_settings=settings,
        server=server,
        status=status,
        username=f"user{server.pk}x{Service.objects.count()}",
        **fields,
    )
