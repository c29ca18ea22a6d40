"""Auto-setup: a product set up "on order" is set up once its checkout has committed (the OrderCreated handler),
one set up "on payment" once the invoice that billed it is paid (the InvoicePaid handler). Both go through
service_setup, whose create key makes a replayed event ask for nothing twice. The order itself stays Pending
until an admin accepts it. The automation settings may keep auto-setup to clients who already have an Active
service: a new client's service then waits for the admin's accept, and the activity log says why."""

from __future__ import annotations

import enum
import logging
from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.db import transaction

from automation.models import AutomationSettings
from billing.models import InvoiceItem
from provisioning.models import AutoSetup, Service
from provisioning.outcomes import ServiceActivated
from provisioning.services.common import item_log
from provisioning.services.setup import service_setup

logger = logging.getLogger("provisioning")


class AutoSetupSkip(enum.Enum):
    NEW_CLIENT = "new_client"  # the settings keep auto-setup to clients with an Active service
    REFUSED = "refused"  # service_setup refused it (e.g. the product's module is not installed)


@dataclass(frozen=True)
class AutoSetupLine:
    service_id: int
    setup: ServiceActivated | None = None
    skipped: AutoSetupSkip | None = None
    why: str = ""


WHEN_WORDS = {AutoSetup.ON_ORDER: "on order", AutoSetup.ON_PAYMENT: "on payment"}


def services_auto_setup(*, service_ids: list[int], when: AutoSetup) -> list[AutoSetupLine]:
    """Set up those of these services that are Pending and bought with auto-setup `when`, locked in key order.
    The system does it (actor None). A refusal of one service is logged on it and does not stop the others."""
    if not service_ids:
        return []
    lines: list[AutoSetupLine] = []
    with transaction.atomic():
        services = list(
            Service.objects.select_for_update(of=("self",))
            .filter(pk__in=service_ids, status=Service.Status.PENDING, auto_setup=when)
            .select_related("product", "client")
            .order_by("pk")
        )
        if not services:  # most orders and payments: nothing to set up, and no settings to read
            return []
        restricted = AutomationSettings.load().auto_setup_known_clients_only
        known = set()
        if restricted:
            known = set(
                Service.objects.filter(
                    client_id__in={s.client_id for s in services}, status=Service.Status.ACTIVE
                ).values_list("client_id", flat=True)
            )
        for service in services:
            if restricted and service.client_id not in known:
                item_log(
                    None,
                    "service_auto_setup_held",
                    service,
                    f"{service}: not set up {WHEN_WORDS[when]}: auto-setup is kept to clients who already have an "
                    "active service, so it stays Pending for an admin's accept",
                )
                lines.append(AutoSetupLine(service.pk, skipped=AutoSetupSkip.NEW_CLIENT))
                continue
            try:
                with transaction.atomic():  # a savepoint: a refusal leaves nothing half written
                    outcome = service_setup(service=service, actor=None)
            except ValidationError as error:
                why = " ".join(error.messages)
                says = f"{service}: not set up {WHEN_WORDS[when]}: {why}"
                item_log(None, "service_auto_setup_refused", service, says)
                logger.warning("Auto-setup of service %s refused: %s", service.pk, why)
                lines.append(AutoSetupLine(service.pk, skipped=AutoSetupSkip.REFUSED, why=why))
                continue
            lines.append(AutoSetupLine(service.pk, setup=outcome))
    return lines


def order_auto_setup(*, order_id: int) -> list[AutoSetupLine]:
    """After checkout: the order's services bought to be set up on order."""
    ids = list(Service.objects.filter(order_id=order_id).values_list("pk", flat=True))
    return services_auto_setup(service_ids=ids, when=AutoSetup.ON_ORDER)


def invoice_auto_setup(*, invoice_id: int) -> list[AutoSetupLine]:
    """After payment: the services the paid invoice billed that were bought to be set up on payment."""
    ids = list(
        InvoiceItem.objects.filter(
            invoice_id=invoice_id, kind=InvoiceItem.Kind.SERVICE, related_id__isnull=False
        ).values_list("related_id", flat=True)
    )
    return services_auto_setup(service_ids=ids, when=AutoSetup.ON_PAYMENT)
