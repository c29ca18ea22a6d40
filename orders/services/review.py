"""What an admin does with an order. Each use case locks the order row first (so two admins acting at once
queue up, and the second sees the first's result), then its items in key order, then applies the transition,
writes the history row and the activity log, and emits the event after commit."""

from __future__ import annotations

import enum
from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.db import transaction

from billing.models import Invoice
from billing.services import invoice_cancel_if_open, invoice_delete, invoice_reopen_if_cancelled
from core.fsm import apply_transition
from notifications.bus import emit
from notifications.services import Actor, activity_record, actor_label, actor_user
from orders.models import Order, OrderStatusChange
from orders.selectors import order_delete_blockers
from orders.services.stock import stock_release, stock_take
from provisioning.models import Domain, Service
from provisioning.outcomes import DomainActivated, ItemMove, ServiceActivated
from provisioning.selectors import holds_stock, lock_order_items
from provisioning.services import (
    domain_activate,
    domain_cancel,
    domain_set_pending,
    order_items_delete,
    service_cancel,
    service_set_pending,
    service_setup,
)


class InvoiceMove(enum.Enum):
    """What an order's review did to its invoice."""

    CANCELLED = "cancelled"
    REOPENED = "unpaid"


@dataclass(frozen=True)
class ReviewLine:
    """One thing an order's review did: to a service, a domain or the invoice (orders.wording words it)."""

    item: Service | Domain | Invoice
    result: ServiceActivated | DomainActivated | ItemMove | InvoiceMove


@dataclass(frozen=True)
class ServiceAcceptOptions:
    """The admin's choices for one service on accept: blank server, username or password take the defaults (the
    product's server group picks a server; the module suggests a username and generates a password)."""

    run_module_create: bool = True
    send_welcome_email: bool = True
    server_id: int | None = None
    username: str = ""
    password: str = ""


def _lock(order: Order) -> Order:
    try:
        return Order.objects.select_for_update(of=("self",)).select_related("client", "currency").get(pk=order.pk)
    except Order.DoesNotExist:
        raise ValidationError(f"{order} no longer exists.") from None


def _move(order: Order, bound_transition, *, label: str, actor: Actor, reason: str) -> str:
    from_status = order.status
    apply_transition(bound_transition, label=label)
    order.save(update_fields=["status"])
    OrderStatusChange.objects.create(
        order=order,
        from_status=from_status,
        to_status=order.status,
        actor=actor_user(actor),
        actor_label=actor_label(actor),
        reason=reason,
    )
    return from_status


def _record(actor: Actor, action: str, order: Order, message: str, reason: str) -> None:
    activity_record(
        actor=actor,
        action=action,
        subject=order,
        client_id=order.client_id,
        message=message + (f": {reason}" if reason else ""),
    )


def order_accept(
    *,
    order: Order,
    actor: Actor,
    service_options: dict[int, ServiceAcceptOptions] | None = None,
    registrar_domains: dict[int, bool] | None = None,
    domain_registrars: dict[int, str] | None = None,
    reason: str = "",
) -> list[ReviewLine]:
    """Pending → Active. Each Pending item is activated with the admin's choices (default: everything ticked;
    a domain goes to the registrar in `domain_registrars`, else its own); items already live (set up on order)
    are left as they are. Returns one line per item for the admin."""
    service_options = service_options or {}
    registrar_domains = registrar_domains or {}
    domain_registrars = domain_registrars or {}
    with transaction.atomic():
        order = _lock(order)
        _move(order, order.accept, label="accepted", actor=actor, reason=reason)
        services, domains = lock_order_items(order_id=order.pk)
        outcomes = []
        for service in services:
            if service.status == service.Status.PENDING:
                options = service_options.get(service.pk, ServiceAcceptOptions())
                outcome = service_setup(
                    service=service,
                    actor=actor,
                    run_module_create=options.run_module_create,
                    send_welcome_email=options.send_welcome_email,
                    server_id=options.server_id,
                    username=options.username,
                    password=options.password,
                )
                outcomes.append(ReviewLine(service, outcome))
        for domain in domains:
            if domain.status == Domain.Status.PENDING:
                outcome = domain_activate(
                    domain=domain,
                    actor=actor,
                    send_to_registrar=registrar_domains.get(domain.pk, True),
                    registrar=domain_registrars.get(domain.pk),
                )
                outcomes.append(ReviewLine(domain, outcome))
        _record(actor, "order_accepted", order, f"{order} accepted", reason)
        emit("AcceptOrder", order_id=order.pk, client_id=order.client_id)
    return outcomes


def _withdraw(order: Order, *, as_fraud: bool, actor: Actor, reason: str) -> list[ReviewLine]:
    with transaction.atomic():
        order = _lock(order)
        if as_fraud:
            _move(order, order.mark_fraud, label="marked as fraud", actor=actor, reason=reason)
        else:
            _move(order, order.cancel, label="cancelled", actor=actor, reason=reason)
        services, domains = lock_order_items(order_id=order.pk)
        outcomes, released = [], []
        for service in services:
            if outcome := service_cancel(service=service, as_fraud=as_fraud, actor=actor, reason=reason):
                outcomes.append(ReviewLine(service, outcome))
                released.append(service.product_id)
        for domain in domains:
            if outcome := domain_cancel(domain=domain, as_fraud=as_fraud, actor=actor, reason=reason):
                outcomes.append(ReviewLine(domain, outcome))
                released.append(domain.product_id)
        stock_release(pk for pk in released if pk)
        if order.invoice_id:
            why = f"{order} {order.get_status_display().lower()}"
            if invoice := invoice_cancel_if_open(invoice_id=order.invoice_id, actor=actor, reason=why):
                outcomes.append(ReviewLine(invoice, InvoiceMove.CANCELLED))
        word = "marked as fraud" if as_fraud else "cancelled"
        _record(actor, "order_fraud" if as_fraud else "order_cancelled", order, f"{order} {word}", reason)
        emit("FraudOrder" if as_fraud else "CancelOrder", order_id=order.pk, client_id=order.client_id)
    return outcomes


def order_cancel(*, order: Order, actor: Actor, reason: str = "") -> list[ReviewLine]:
    """Pending/Active → Cancelled: every item cancelled, live accounts terminated, the unpaid invoice cancelled."""
    return _withdraw(order, as_fraud=False, actor=actor, reason=reason)


def order_mark_fraud(*, order: Order, actor: Actor, reason: str = "") -> list[ReviewLine]:
    """Pending → Fraud: pending items to Fraud, live accounts terminated, the unpaid invoice cancelled."""
    return _withdraw(order, as_fraud=True, actor=actor, reason=reason)


def order_set_pending(*, order: Order, actor: Actor, reason: str = "") -> list[ReviewLine]:
    """Fraud/Cancelled → Pending: items back to Pending (taking their stock again), the cancelled invoice back
    to Unpaid. Refused, changing nothing, when stock ran out or a domain was ordered by someone else meanwhile."""
    with transaction.atomic():
        order = _lock(order)
        _move(order, order.set_pending, label="set back to pending", actor=actor, reason=reason)
        services, domains = lock_order_items(order_id=order.pk)
        reopened_services = [s for s in services if service_set_pending(service=s, actor=actor)]
        reopened_domains = [d for d in domains if domain_set_pending(domain=d, actor=actor)]
        stock_take(item.product_id for item in [*reopened_services, *reopened_domains] if item.product_id)
        outcomes = [ReviewLine(item, ItemMove.PENDING) for item in [*reopened_services, *reopened_domains]]
        if order.invoice_id and (invoice := invoice_reopen_if_cancelled(invoice_id=order.invoice_id, actor=actor)):
            outcomes.append(ReviewLine(invoice, InvoiceMove.REOPENED))
        _record(actor, "order_pending", order, f"{order} set back to pending", reason)
        emit("PendingOrder", order_id=order.pk, client_id=order.client_id)
    return outcomes


def order_delete(*, order: Order, actor: Actor) -> None:
    """Remove the order, its services, domains and invoice. Refused while an account is live or at the registrar
    (cancel the order first) or when money was received or credited on the invoice."""
    with transaction.atomic():
        order = _lock(order)
        services, domains = lock_order_items(order_id=order.pk)
        if blockers := order_delete_blockers(order=order, services=services, domains=domains):
            raise ValidationError(" ".join(blockers))
        invoice = order.invoice
        number, client_id = order.number, order.client_id
        _record(
            actor,
            "order_deleted",
            order,
            f"{order} deleted with {len(services)} service(s), {len(domains)} domain(s)"
            + (f" and {invoice}" if invoice else ""),
            "",
        )
        stock_release(item.product_id for item in [*services, *domains] if item.product_id and holds_stock(item))
        order_items_delete(order_id=order.pk)
        order.delete()
        if invoice is not None:
            invoice_delete(invoice=invoice, actor=actor)
        emit("DeleteOrder", order_number=number, client_id=client_id)
