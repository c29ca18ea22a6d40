"""Services: made at checkout, activated on accept, cancelled or set back to pending with their order. Functions that
take an instance expect it locked by the caller's transaction (see selectors.lock_order_items); each one records who
did it and emits its event."""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.utils import timezone

from billing.models import Client, Currency
from core.fsm import apply_transition
from notifications.bus import emit
from notifications.services import (
    Actor,
    email_queue,
)
from provisioning.models import Domain, Service
from provisioning.outcomes import ItemMove, ServiceActivated, Setup, WelcomeEmail
from provisioning.services.common import item_log, module_calls_for_moves, service_emails
from provisioning.wording import service_activated_words


@dataclass(frozen=True)
class ServiceSpec:
    """What was bought, copied from the catalog at checkout."""

    product_id: int
    billing_cycle: str
    recurring_amount: Decimal
    first_payment_amount: Decimal
    module: str
    auto_setup: str
    module_settings: dict[str, Any] = field(default_factory=dict)
    domain: str = ""


def service_create(
    *,
    client: Client,
    currency: Currency,
    order_id: int | None,
    spec: ServiceSpec,
    registration_date: datetime.date,
    next_due_date: datetime.date | None = None,
) -> Service:
    """A Pending service, first due on its registration date unless `next_due_date` says otherwise (an order placed
    without an invoice starts after its first period: docs/DECISIONS.md)."""
    service = Service(
        client=client,
        order_id=order_id,
        product_id=spec.product_id,
        currency=currency,
        billing_cycle=spec.billing_cycle,
        recurring_amount=spec.recurring_amount,
        first_payment_amount=spec.first_payment_amount,
        module=spec.module,
        module_settings=spec.module_settings,
        auto_setup=spec.auto_setup,
        domain=spec.domain,
        registration_date=registration_date,
        next_due_date=next_due_date or registration_date,
    )
    service.save()
    return service


def welcome_context(service: Service) -> dict[str, Any]:
    """The welcome email's values: what was bought and how to connect (never the password: the client sets one
    on the service page, where it is shown once)."""
    account = service.account or {}
    return {
        "service_id": service.pk,
        "product": service.product.name,
        "domain": service.domain,
        "username": service.username,
        "host": str(account.get("host", "")),
        "port": str(account.get("port", "")),
        "database": str(account.get("database", "")),
        "zone": str(account.get("zone", "")),
    }


def service_activate(
    *, service: Service, send_welcome_email: bool, actor: Actor, setup: Setup = Setup.NO_MODULE
) -> ServiceActivated:
    """Pending → Active: without a module (`setup` says why), or because the module's create succeeded
    (Setup.MODULE_RAN, from provisioning.queue.effects). Returns what happened, for the admin's message and the log."""
    # The next due date stays on the first, unpaid period: payment advances it (billing issue), not acceptance.
    apply_transition(service.activate, label="activated")
    today = timezone.localdate()
    service.save(update_fields=["status"])
    welcome = WelcomeEmail.NOT_ASKED
    if send_welcome_email:
        _email, queued = email_queue(
            template=service.product.welcome_email_template or "service_welcome",
            to_address=service.client.email,
            client_id=service.client_id,
            idempotency_key=f"service_welcome:{service.pk}",
            context=welcome_context(service),
        )
        welcome = WelcomeEmail.QUEUED if queued else WelcomeEmail.ALREADY_QUEUED
    outcome = ServiceActivated(setup=setup, welcome_email=welcome)
    item_log(actor, "service_activated", service, f"{service} activated on {today}: {service_activated_words(outcome)}")
    emit("ServiceActivated", service_id=service.pk, client_id=service.client_id, module_ran=setup is Setup.MODULE_RAN)
    return outcome


def service_cancel(*, service: Service, as_fraud: bool, actor: Actor, reason: str = "") -> ItemMove | None:
    """Withdraw a service because its order was cancelled or found fraudulent.

    A live account (Active or Suspended) is terminated; a Pending one becomes Cancelled or Fraud; one already
    closed is left alone. Returns what happened, or None when nothing changed.
    """
    suffix = f": {reason}" if reason else ""
    if service.status in (Service.Status.ACTIVE, Service.Status.SUSPENDED):
        service.terminate(on=timezone.localdate())
        service.save(update_fields=["status", "termination_date", "suspension_reason"])
        module_calls_for_moves([service.pk], "terminate", reason=reason or "the order was withdrawn", actor=actor)
        item_log(actor, "service_terminated", service, f"{service} terminated{suffix}")
        emit("ServiceTerminated", service_id=service.pk, client_id=service.client_id)
        service_emails(Service.objects.filter(pk=service.pk), template="service_terminated", reason=reason)
        return ItemMove.TERMINATED
    if service.status == Service.Status.PENDING:
        if as_fraud:
            service.mark_fraud()
        else:
            service.cancel()
        service.save(update_fields=["status"])
        word = "fraud" if as_fraud else "cancelled"
        item_log(actor, f"service_{word}", service, f"{service} marked {word}{suffix}")
        emit("ServiceFraud" if as_fraud else "ServiceCancelled", service_id=service.pk, client_id=service.client_id)
        return ItemMove(word)
    return None


def service_set_pending(*, service: Service, actor: Actor) -> bool:
    if service.status not in (Service.Status.CANCELLED, Service.Status.FRAUD, Service.Status.TERMINATED):
        return False
    service.set_pending()
    service.save(update_fields=["status", "termination_date", "setup_round"])
    item_log(actor, "service_pending", service, f"{service} set back to pending")
    emit("ServicePending", service_id=service.pk, client_id=service.client_id)
    return True


def order_items_delete(*, order_id: int) -> None:
    """Remove an order's services and domains. The caller holds their locks and has checked none is live."""
    Service.objects.filter(order_id=order_id).delete()
    Domain.objects.filter(order_id=order_id).delete()
