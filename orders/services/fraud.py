"""The fraud check as orders runs it: at checkout, before the order commits, and again when an admin asks.

`orders` builds the facts (orders.selectors.order_fraud_history), `fraud` scores them, `orders` stores the
result on the order. What a fault, a skip and a recheck do is written down in docs/FRAUD.md, "Issue 5 wiring".
"""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from billing.models import Client, Invoice
from core.domain_names import domain_name_for_display, mixed_script_labels
from fraud import services as fraud_services  # a module reference, so tests can replace fraud_check
from fraud.engine import FraudResult, MixedScriptDomain, OrderFacts
from notifications.bus import emit
from notifications.services import Actor, activity_record, actor_label
from orders.models import Order
from orders.selectors import order_fraud_history
from provisioning.selectors import order_items

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class OrderedProduct:
    product_id: int
    name: str
    is_domain: bool
    domain: str = ""  # the normalised (ASCII) domain name it registers or hosts, if any


def mixed_script_domains(products: Sequence[OrderedProduct]) -> tuple[MixedScriptDomain, ...]:
    """The order's domain names with a label that mixes scripts, as the fraud check takes them."""
    return tuple(
        MixedScriptDomain(
            name=domain_name_for_display(domain),
            ascii_name=domain,
            label=mixed.label,
            scripts=mixed.scripts,
        )
        for domain in dict.fromkeys(p.domain for p in products if p.domain)
        for mixed in mixed_script_labels(domain)
    )


@dataclass(frozen=True)
class FraudScreening:
    """What one run of the check did: the stored result, and whether it sends the order to Fraud."""

    stored: dict[str, Any]
    is_fraud: bool
    failed: bool  # the check itself raised: nothing was scored

    @property
    def score(self) -> int | None:
        return self.stored.get("score")


def ip_address_for_storage(raw: str | None) -> str | None:
    """The address to keep on the order (a GenericIPAddressField: PostgreSQL's inet refuses anything else), or
    None for a missing or malformed one. The raw string still goes to the check, which records what was wrong."""
    if not raw or not isinstance(raw, str) or len(raw) > 64:
        return None
    text = raw.strip().split("%", 1)[0]  # an IPv6 zone (fe80::1%eth0) means nothing outside the host
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return str(address)


def _facts(
    *,
    order: Order,
    client: Client,
    invoice: Invoice | None,
    products: Sequence[OrderedProduct],
    raw_ip: str | None,
    placed_by_admin: bool = False,
) -> OrderFacts:
    history = order_fraud_history(order=order, client=client, email=client.email)
    currency = order.currency
    # Paid by credit: the client's credit settled the whole invoice when it was created (billing applies it
    # there when "apply credit automatically" is on). A free order is not paid by credit.
    paid_by_credit = bool(
        invoice is not None
        and invoice.credit_applied > 0
        and invoice.balance_due == 0
        and invoice.amount_paid == 0
        and invoice.status == Invoice.Status.PAID
    )
    return OrderFacts(
        client_id=client.pk,
        client_age_days=max(0, (order.created_at - client.created_at).days),
        email=client.email,
        billing_country=client.country,
        billing_region=client.state,
        billing_city=client.city,
        ip_address=raw_ip,
        order_total=order.total,
        currency=currency.code,
        # Units of the order's currency per one default unit; the engine divides by it.
        exchange_rate=currency.exchange_rate,
        product_ids=tuple(p.product_id for p in products),
        product_names=tuple(p.name for p in products),
        # Domains are not services: a new client's hosting plan with three domains is not "many services".
        services_ordered=sum(1 for p in products if not p.is_domain),
        earlier_orders=history.earlier_orders,
        has_paid_invoice=history.has_paid_invoice,
        earlier_fraud_orders_same_ip=history.earlier_fraud_orders_same_ip,
        earlier_fraud_orders_same_email=history.earlier_fraud_orders_same_email,
        earlier_fraud_orders_same_client=history.earlier_fraud_orders_same_client,
        orders_from_ip_last_hour=history.orders_from_ip_last_hour,
        client_has_active_service=history.has_active_service,
        paid_by_credit=paid_by_credit,
        mixed_script_domains=mixed_script_domains(products),
        placed_by_admin=placed_by_admin,
    )


def _screen(
    *,
    order: Order,
    client: Client,
    invoice: Invoice | None,
    products: Sequence[OrderedProduct],
    raw_ip: str | None,
    actor: Actor,
    recheck: bool,
    placed_by_admin: bool = False,
) -> FraudScreening:
    """Build the facts and run the check inside a savepoint, so a fault (even a database error) rolls back only
    the check and the checkout goes on. Emits PreFraudCheck, AfterFraudCheck and FraudCheckPassed/Failed."""
    base = {"order_id": order.pk, "client_id": client.pk, "recheck": recheck}
    emit("PreFraudCheck", **base)
    checked = {"checked_at": timezone.now().isoformat(), "checked_by": actor_label(actor), "recheck": recheck}
    try:
        with transaction.atomic():
            facts = _facts(
                order=order,
                client=client,
                invoice=invoice,
                products=products,
                raw_ip=raw_ip,
                placed_by_admin=placed_by_admin,
            )
            result = fraud_services.fraud_check(facts=facts)
    except Exception as exc:  # any fault: the order must not be lost, a human decides
        logger.exception(
            "Fraud check of %s (client %s, IP %r) failed; the order stays Pending.", order, client.pk, raw_ip
        )
        stored = {
            **checked,
            "error": f"{type(exc).__name__}: {exc}"[:500],
            "ip": {"raw": raw_ip if raw_ip is None else str(raw_ip)[:64]},
        }
        emit("AfterFraudCheck", **base, score=None, threshold=None, is_fraud=False, skipped_reason="", error=True)
        return FraudScreening(stored=stored, is_fraud=False, failed=True)
    stored = {**result.to_json(), **checked, "facts": facts.to_json()}
    outcome = {"score": result.score, "threshold": result.threshold, "is_fraud": result.is_fraud}
    emit("AfterFraudCheck", **base, **outcome, skipped_reason=result.skipped_reason, error=False)
    emit(
        "FraudCheckFailed" if result.is_fraud else "FraudCheckPassed",
        **base,
        **outcome,
        rules=[rule.code for rule in result.rules],
        skipped_reason=result.skipped_reason,
    )
    return FraudScreening(stored=stored, is_fraud=result.is_fraud, failed=False)


def _store(order: Order, screening: FraudScreening) -> None:
    order.fraud_score = screening.score
    order.fraud_result = screening.stored
    order.save(update_fields=["fraud_score", "fraud_result"])


def order_fraud_screen_at_checkout(
    *,
    order: Order,
    client: Client,
    invoice: Invoice | None,
    products: Sequence[OrderedProduct],
    raw_ip: str | None,
    actor: Actor,
    placed_by_admin: bool = False,
) -> FraudScreening:
    """Run inside order_place's transaction, after the order, its items and its invoice (if any) exist: score the
    order and store the result. The caller sends the order to Fraud when `is_fraud`. An order an admin placed is
    checked or skipped as the fraud settings say for admin orders (the engine decides, and the result says why)."""
    screening = _screen(
        order=order,
        client=client,
        invoice=invoice,
        products=products,
        raw_ip=raw_ip,
        actor=actor,
        recheck=False,
        placed_by_admin=placed_by_admin,
    )
    _store(order, screening)
    return screening


def fraud_reason(stored: dict[str, Any]) -> str:
    """One line for the status history when the check sends an order to Fraud."""
    fired = "; ".join(rule["sentence"] for rule in stored.get("rules", ()))
    return f"Fraud check: score {stored.get('score')} at or above the threshold {stored.get('threshold')}. {fired}"


def order_fraud_recheck(*, order_id: int, actor: Actor) -> FraudScreening:
    """Run the check again with today's facts, settings and GeoIP databases and store the new result. The order
    keeps its status whatever the score: the admin decides with the review buttons. The stored result is kept
    when the check itself fails (ValidationError with the reason)."""
    with transaction.atomic():
        try:
            order = (
                Order.objects.select_for_update(of=("self",))
                .select_related("client", "currency", "invoice")
                .get(pk=order_id)
            )
        except Order.DoesNotExist:
            raise ValidationError(f"Order {order_id} no longer exists.") from None
        services, domains = order_items(order_id=order.pk)
        products = [
            OrderedProduct(s.product_id, s.product.name, is_domain=False, domain=s.domain) for s in services
        ] + [OrderedProduct(d.product_id, d.name, is_domain=True, domain=d.name) for d in domains]
        previous = order.fraud_result or {}
        # The raw string from the request is only in the stored result; the order keeps the parsed address.
        raw_ip = (previous.get("ip") or {}).get("raw", order.ip_address)
        screening = _screen(
            order=order,
            client=order.client,
            invoice=order.invoice,
            products=products,
            raw_ip=raw_ip,
            actor=actor,
            recheck=True,
        )
        if screening.failed:
            # Raising would roll back the events above with everything else: nothing happened, as the admin sees.
            transaction.set_rollback(True)
            return screening
        _store(order, screening)
        before = previous.get("score", "none") if not previous.get("error") else "failed"
        verdict = "at or above" if screening.is_fraud else "below"
        activity_record(
            actor=actor,
            action="order_fraud_rechecked",
            subject=order,
            client_id=order.client_id,
            message=(
                f"{order}: fraud check run again, score {before} → {screening.score}, {verdict} the threshold "
                f"{screening.stored.get('threshold')}; the order stays {order.get_status_display()}"
            ),
        )
    return screening


def stored_fraud_result(stored: dict[str, Any]) -> FraudResult | None:
    """The stored result read back for the order page, or None when there is none (or only a failure)."""
    if not stored or "score" not in stored or stored.get("error"):
        return None
    return FraudResult.from_json(stored)
