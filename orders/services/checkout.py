from __future__ import annotations

import datetime
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from billing.cycles import BillingCycle, period_after
from billing.models import Client, Currency, InvoiceItem
from billing.money import ZERO, format_rate
from billing.services import InvoiceLine, invoice_create
from core.domain_names import normalize_domain_name
from notifications.bus import emit
from notifications.hooks import pre
from notifications.services import Actor, activity_record, actor_label, actor_user, email_queue
from orders.models import Order, OrderStatusChange, Product, ProductPricing, Promotion
from orders.services.fraud import OrderedProduct, fraud_reason, ip_address_for_storage, order_fraud_screen_at_checkout
from orders.services.review import order_mark_fraud
from orders.services.stock import stock_take
from provisioning.domain_models import MAX_YEARS
from provisioning.domain_selectors import tlds_for_names
from provisioning.models import Domain, Tld
from provisioning.services import DomainSpec, ServiceSpec, domain_create, epp_code_clean, service_create
from provisioning.services.domain_availability import AvailabilityState, domains_availability

DOMAIN_YEARS = {BillingCycle.ANNUALLY: 1, BillingCycle.BIENNIALLY: 2, BillingCycle.TRIENNIALLY: 3}
YEARS_CYCLE = {years: cycle for cycle, years in DOMAIN_YEARS.items()}


@dataclass(frozen=True)
class CartItem:
    product_id: int
    billing_cycle: str
    domain: str = ""
    domain_action: str = Domain.RegistrationType.REGISTER
    # A domain's years (1-10); 0: from the billing cycle (annually, biennially, triennially).
    years: int = 0
    # A transfer in's EPP (authorization) code; required when the TLD says so, ignored for a registration.
    epp_code: str = ""


@dataclass
class _PricedItem:
    cart_item: CartItem
    product: Product
    domain: str
    price: Decimal  # due today, before the discount
    setup_fee: Decimal
    recurring: Decimal  # the service's recurring amount; a domain's renewal for its years
    years: int = 0  # a domain's
    tld: Tld | None = None  # the TLD a domain was priced from (None: its product's pricing)
    availability: str = Domain.CheckoutAvailability.NOT_CHECKED
    discount: Decimal = ZERO
    epp_code: str = ""  # a transfer's, checked


def order_place(
    *,
    client: Client,
    items: Sequence[CartItem],
    actor: Actor,
    promo_code: str = "",
    ip_address: str | None = None,
    today: datetime.date | None = None,
    invoice: bool = True,
    send_order_email: bool = True,
    placed_by_admin: bool = False,
) -> Order:
    """Place an order: the Pending order, its Pending services and domains and one Unpaid invoice, in one
    transaction. Any bad input raises ValidationError and writes nothing.

    The fraud check runs before the transaction commits: at or above the threshold the order, its items and its
    invoice go to Fraud/Cancelled in the same transaction, so the order is never seen as Pending. A fault in the
    check leaves the order Pending with the failure recorded in `fraud_result` (docs/FRAUD.md).

    An admin placing an order for the client (Add New Order) says so with `placed_by_admin`: the fraud check then
    follows the setting for admin orders. `invoice=False` places it without an invoice: nothing is billed for the
    first period, and each item is first due after it (docs/DECISIONS.md); `send_order_email=False` queues no
    order confirmation (the invoice's own email, when there is an invoice, is billing's and still goes)."""
    today = today or timezone.localdate()
    if not items:
        raise ValidationError("The cart is empty.")
    with transaction.atomic():
        # of=("self",): lock the client only, not the currency row every checkout shares.
        client = Client.objects.select_for_update(of=("self",)).select_related("currency").get(pk=client.pk)
        if client.status != Client.Status.ACTIVE:
            raise ValidationError(f"Client {client} is {client.get_status_display()}: only active clients can order.")
        currency = client.currency
        priced = _price_items(items, currency)
        _validate_checkout(client=client, priced=priced, promo_code=promo_code, ip_address=ip_address)
        _check_availability(priced)
        promotion = _apply_promotion(promo_code, priced, currency, today) if promo_code.strip() else None
        stock_take(p.product.pk for p in priced)
        order = _create_order(client=client, currency=currency, promo_code=promo_code.strip(), ip_address=ip_address)
        lines = _create_items(order, priced, client=client, currency=currency, today=today, billed=invoice)
        if promotion is not None:
            # One discount line per tax treatment, so a discount on a taxed product lowers the taxed base only.
            for taxed in (True, False):
                discount = sum((p.discount for p in priced if p.product.taxable is taxed), ZERO)
                if discount > 0:
                    lines.append(
                        InvoiceLine(
                            kind=InvoiceItem.Kind.PROMOTION,
                            description=f"Promotion code {promotion.code}: {_promo_text(promotion, currency)}",
                            amount=-discount,
                            taxed=taxed,
                        )
                    )
            Promotion.objects.filter(pk=promotion.pk).update(uses=F("uses") + 1)
        if invoice:
            due = today + datetime.timedelta(days=settings.PORTAL_ORDER_INVOICE_DUE_DAYS)
            order.invoice = invoice_create(client=client, lines=lines, actor=actor, issue_date=today, due_date=due)
            order.total = order.invoice.total
        else:  # what checkout priced, before tax: no invoice computed any
            order.total = sum((line.amount for line in lines), ZERO)
        order.save(update_fields=["invoice", "total"])
        screening = order_fraud_screen_at_checkout(
            order=order,
            client=client,
            invoice=order.invoice,
            products=[
                OrderedProduct(
                    p.product.pk, p.product.name, is_domain=p.product.type == Product.Type.DOMAIN, domain=p.domain
                )
                for p in priced
            ],
            raw_ip=ip_address,
            actor=actor,
            placed_by_admin=placed_by_admin,
        )
        OrderStatusChange.objects.create(
            order=order,
            from_status="",
            to_status=order.status,
            actor=actor_user(actor),
            actor_label=actor_label(actor),
            reason="Order placed by an admin for the client" if placed_by_admin else "Order placed",
        )
        activity_record(
            actor=actor,
            action="order_placed",
            subject=order,
            client_id=client.pk,
            message=_placed_message(
                order, items=len(priced), invoice=invoice, send_order_email=send_order_email, by_admin=placed_by_admin
            ),
        )
        emit(
            "OrderCreated",
            order_id=order.pk,
            client_id=client.pk,
            invoice_id=order.invoice_id,
            total=str(order.total),
            currency=currency.code,
            fraud_score=screening.score,
            fraud=screening.is_fraud,
        )
        if send_order_email:
            email_queue(
                template="order_confirmation",
                to_address=client.email,
                idempotency_key=f"order_confirmation:{order.pk}",
                context={
                    "order_id": order.pk,
                    "client_name": client.contact_name,
                    "total": str(order.total),
                    "currency": currency.code,
                    "items": [f"{p.product.name} ({p.domain})" if p.domain else p.product.name for p in priced],
                },
                client_id=client.pk,
            )
        if screening.is_fraud:
            # The system, not the client, sends it to Fraud: the history and activity log say "system".
            order_mark_fraud(order=order, actor=None, reason=fraud_reason(screening.stored))
            order.refresh_from_db()
    return order


def _placed_message(order: Order, *, items: int, invoice: bool, send_order_email: bool, by_admin: bool) -> str:
    by = " by an admin" if by_admin else ""
    message = f"{order} placed{by}: {items} item(s), {order.currency.format(order.total)}"
    if not invoice:
        message += "; no invoice"
    if not send_order_email:
        message += "; no order confirmation email"
    return message


def _validate_checkout(*, client: Client, priced: list[_PricedItem], promo_code: str, ip_address: str | None) -> None:
    """The checkout's pre-hooks, before anything is written: a Veto (a ValidationError) refuses the checkout with
    its reason, and the transaction has nothing to roll back but the client's lock."""
    pre(
        "ShoppingCartValidateCheckout",
        client_id=client.pk,
        currency=client.currency.code,
        promo_code=promo_code.strip(),
        ip_address=ip_address or "",
        items=[
            {
                "product_id": p.product.pk,
                "product_name": p.product.name,
                "billing_cycle": p.cart_item.billing_cycle,
                "price": str(p.price),
                "setup_fee": str(p.setup_fee),
                "domain": p.domain,
                "domain_action": p.cart_item.domain_action,
            }
            for p in priced
        ],
    )


def _price_items(items: Sequence[CartItem], currency: Currency) -> list[_PricedItem]:
    product_ids = sorted({item.product_id for item in items})
    # Not locked here: stock_take locks the stock-controlled products it changes, and the one-live-domain
    # constraint settles two checkouts racing for one name.
    products = {p.pk: p for p in Product.objects.select_related("group").filter(pk__in=product_ids)}
    pricing = {
        (p.product_id, p.billing_cycle): p
        for p in ProductPricing.objects.filter(product_id__in=product_ids, currency=currency)
    }
    checked: list[tuple[int, CartItem, Product, str]] = []
    seen_domains: set[str] = set()
    for position, item in enumerate(items, start=1):
        product = products.get(item.product_id)
        if product is None or product.retired:
            raise ValidationError(f"Item {position}: product {item.product_id} is not for sale.")
        if item.billing_cycle not in BillingCycle.values:
            raise ValidationError(f"Item {position}: {item.billing_cycle!r} is not a billing cycle.")
        domain = ""
        if product.type == Product.Type.DOMAIN or product.requires_domain or item.domain:
            try:
                domain = normalize_domain_name(item.domain)
            except ValidationError as exc:
                raise ValidationError(f"Item {position}: {exc.messages[0]}") from exc
        if product.type == Product.Type.DOMAIN:
            if item.domain_action not in Domain.RegistrationType.values:
                raise ValidationError(f"Item {position}: choose to register or to transfer {domain}.")
            if domain in seen_domains:
                raise ValidationError(f"Item {position}: {domain} is in the cart twice.")
            seen_domains.add(domain)
        checked.append((position, item, product, domain))
    # A domain whose extension has a TLD row is priced from the TLD's table; one without, from its product.
    tlds = tlds_for_names(names=seen_domains, currency=currency) if seen_domains else {}
    priced: list[_PricedItem] = []
    for position, item, product, domain in checked:
        if product.type == Product.Type.DOMAIN and domain in tlds:
            priced.append(_price_from_tld(position, item, product, domain, tlds[domain], currency))
            continue
        cycle = item.billing_cycle
        if product.type == Product.Type.DOMAIN:
            years = _years_asked(position, item)
            # A cycle of no domain years is refused as any cycle the product is not sold in, then as a domain's.
            if years not in YEARS_CYCLE and (item.years or (product.pk, cycle) in pricing):
                raise ValidationError(f"Item {position}: domains are sold for one, two or three years.")
            cycle = YEARS_CYCLE.get(years, cycle)
        price = pricing.get((product.pk, cycle))
        if price is None:
            raise ValidationError(
                f"Item {position}: {product.name} is not sold {BillingCycle(cycle).label.lower()} in {currency.code}."
            )
        priced.append(
            _PricedItem(
                cart_item=item,
                product=product,
                domain=domain,
                price=price.price,
                setup_fee=price.setup_fee,
                recurring=price.price,
                years=DOMAIN_YEARS.get(cycle, 0) if product.type == Product.Type.DOMAIN else 0,
            )
        )
    taken = Domain.objects.filter(name__in=seen_domains, status__in=Domain.LIVE_STATUSES).values_list("name", flat=True)
    if taken:
        raise ValidationError(f"{', '.join(sorted(taken))} is already ordered or registered here.")
    for position, p in enumerate(priced, start=1):
        if p.cart_item.domain_action == Domain.RegistrationType.TRANSFER and p.product.type == Product.Type.DOMAIN:
            p.epp_code = _epp_code_asked(position, p)
    return priced


def _epp_code_asked(position: int, p: _PricedItem) -> str:
    """A transfer's EPP code: required by a TLD that says so (a domain priced from its product has no TLD
    settings: the code is optional, and the admin asks for it when the registrar needs one)."""
    raw = p.cart_item.epp_code
    required = p.tld is not None and p.tld.epp_code_required
    if not required and not (isinstance(raw, str) and raw.strip()):
        return ""
    try:
        return epp_code_clean(raw, name=p.domain)
    except ValidationError as exc:
        raise ValidationError(f"Item {position}: {exc.messages[0]}") from exc


def _years_asked(position: int, item: CartItem) -> int:
    """The years a domain item is for: `years` when given, else its billing cycle's (annually: one year)."""
    if item.years:
        if not isinstance(item.years, int) or isinstance(item.years, bool) or not 1 <= item.years <= MAX_YEARS:
            raise ValidationError(f"Item {position}: a domain is registered for 1 to {MAX_YEARS} years.")
        return item.years
    return DOMAIN_YEARS.get(BillingCycle(item.billing_cycle), 0)


def _price_from_tld(
    position: int, item: CartItem, product: Product, domain: str, tld: Tld, currency: Currency
) -> _PricedItem:
    if not tld.is_active:
        raise ValidationError(f"Item {position}: we do not sell .{tld.extension} domains.")
    years = _years_asked(position, item)
    if not years:
        raise ValidationError(f"Item {position}: choose for how many years (1 to {MAX_YEARS}) to register {domain}.")
    span = f"{years} year{'s' if years > 1 else ''}"
    price = tld.currency_prices.get(years)
    if price is None:
        raise ValidationError(
            f"Item {position}: we do not sell .{tld.extension} domains for {span} in {currency.code}."
        )
    if item.domain_action == Domain.RegistrationType.TRANSFER:
        if price.transfer_price is None:
            raise ValidationError(
                f"Item {position}: we do not transfer .{tld.extension} domains in for {span} in {currency.code}."
            )
        amount = price.transfer_price
    else:
        amount = price.register_price
    return _PricedItem(
        cart_item=item,
        product=product,
        domain=domain,
        price=amount,
        setup_fee=ZERO,
        recurring=price.renew_price,
        years=years,
        tld=tld,
    )


def _check_availability(priced: list[_PricedItem]) -> None:
    """Ask the TLDs' registrars about the domains of the cart; a taken name to register, a registered-nowhere name
    to transfer or a check that failed refuses the checkout (nothing is written). Unknown goes through, marked."""
    asked = {p.domain: p.tld for p in priced if p.tld is not None}
    if not asked:
        return
    answers = domains_availability(names=list(asked), tlds=asked)
    refusals = []
    for p in priced:
        if p.tld is None:
            continue
        answer = answers[p.domain]
        transfer = p.cart_item.domain_action == Domain.RegistrationType.TRANSFER
        if answer.state is AvailabilityState.FAILED:
            refusals.append(
                f"We could not check {p.domain} with the registry just now: nothing was ordered, please try again "
                "in a few minutes."
            )
        elif answer.state is AvailabilityState.TAKEN and not transfer:
            refusals.append(f"{p.domain} is taken: choose another name, or transfer it in if it is yours.")
        elif answer.state is AvailabilityState.AVAILABLE and transfer:
            refusals.append(f"{p.domain} is not registered, so it cannot be transferred: register it instead.")
        p.availability = {
            AvailabilityState.AVAILABLE: Domain.CheckoutAvailability.AVAILABLE,
            AvailabilityState.TAKEN: Domain.CheckoutAvailability.REGISTERED,
        }.get(answer.state, Domain.CheckoutAvailability.UNKNOWN)
    if refusals:
        raise ValidationError(refusals)


def _apply_promotion(code: str, priced: list[_PricedItem], currency: Currency, today: datetime.date) -> Promotion:
    promotion = Promotion.objects.select_for_update().filter(code__iexact=code.strip()).first()
    if promotion is None or not promotion.is_active:
        raise ValidationError(f"Promotion code {code.strip()!r} is not valid.")
    if (promotion.valid_from and today < promotion.valid_from) or (
        promotion.valid_until and today > promotion.valid_until
    ):
        raise ValidationError(f"Promotion code {promotion.code} is not valid today.")
    if promotion.max_uses and promotion.uses >= promotion.max_uses:
        raise ValidationError(f"Promotion code {promotion.code} has been used up.")
    if promotion.kind == Promotion.Kind.FIXED and promotion.currency_id != currency.pk:
        raise ValidationError(f"Promotion code {promotion.code} is not valid for orders in {currency.code}.")
    eligible = set(promotion.products.values_list("pk", flat=True))
    applied = False
    for p in priced:
        if eligible and p.product.pk not in eligible:
            continue
        price = p.price
        if promotion.kind == Promotion.Kind.PERCENT:
            p.discount = currency.quantize(price * promotion.value / Decimal(100))
        else:
            p.discount = min(price, currency.quantize(promotion.value))
        applied = applied or p.discount > 0
    if not applied:
        raise ValidationError(f"Promotion code {promotion.code} does not apply to anything in the cart.")
    return promotion


def _promo_text(promotion: Promotion, currency: Currency) -> str:
    if promotion.kind == Promotion.Kind.PERCENT:
        return f"{format_rate(promotion.value)} off"
    return f"{currency.format(promotion.value)} off"


def _create_order(*, client: Client, currency: Currency, promo_code: str, ip_address: str | None) -> Order:
    for _attempt in range(5):
        order = Order(
            client=client,
            currency=currency,
            promo_code=promo_code,
            ip_address=ip_address_for_storage(ip_address),
            number=f"{secrets.randbelow(9 * 10**9) + 10**9}",
        )
        try:
            with transaction.atomic():
                order.save()
            return order
        except IntegrityError:  # a random number already taken: draw again
            continue
    raise RuntimeError("Could not allocate a unique order number after 5 attempts.")


def _period_end(start: datetime.date, months: int) -> datetime.date | None:
    return period_after(start, months) - datetime.timedelta(days=1) if months else None


def _first_due(today: datetime.date, months: int, *, billed: bool) -> datetime.date | None:
    """When an item is first due: today, when this order's invoice bills its first period; otherwise the day after
    that period (as if it were paid), so renewal invoicing bills the second one. A one-time item stays on today."""
    return today if billed or not months else period_after(today, months)


def _create_items(
    order: Order,
    priced: list[_PricedItem],
    *,
    client: Client,
    currency: Currency,
    today: datetime.date,
    billed: bool = True,
) -> list[InvoiceLine]:
    lines: list[InvoiceLine] = []
    for p in priced:
        product, cycle = p.product, BillingCycle(p.cart_item.billing_cycle)
        first_payment = p.price + p.setup_fee - p.discount
        if product.type == Product.Type.DOMAIN:
            years = p.years
            action = Domain.RegistrationType(p.cart_item.domain_action)
            domain = domain_create(
                client=client,
                currency=currency,
                order_id=order.pk,
                registration_date=today,
                next_due_date=_first_due(today, 12 * years, billed=billed),
                spec=DomainSpec(
                    product_id=product.pk,
                    name=p.domain,
                    registration_type=action,
                    registration_period=years,
                    recurring_amount=p.recurring,
                    first_payment_amount=first_payment,
                    registrar=p.tld.registrar if p.tld is not None else "",
                    availability_at_checkout=p.availability,
                    auto_renew=p.tld.auto_renew_default if p.tld is not None else True,
                    epp_code=p.epp_code,
                ),
            )
            lines.append(
                InvoiceLine(
                    kind=InvoiceItem.Kind.DOMAIN,
                    related_id=domain.pk,
                    amount=p.price,
                    description=f"Domain {action.label} - {domain.name} - {years} year{'s' if years > 1 else ''}",
                    period_start=today,
                    period_end=_period_end(today, 12 * years),
                    taxed=product.taxable,
                )
            )
            related_id = domain.pk
        else:
            service = service_create(
                client=client,
                currency=currency,
                order_id=order.pk,
                registration_date=today,
                next_due_date=_first_due(today, cycle.months, billed=billed),
                spec=ServiceSpec(
                    product_id=product.pk,
                    billing_cycle=cycle,
                    recurring_amount=p.recurring,
                    first_payment_amount=first_payment,
                    module=product.module,
                    module_settings=product.module_settings,
                    auto_setup=product.auto_setup,
                    domain=p.domain,
                ),
            )
            end = _period_end(today, cycle.months)
            period = f" ({today:%Y-%m-%d} - {end:%Y-%m-%d})" if end else ""
            lines.append(
                InvoiceLine(
                    kind=InvoiceItem.Kind.SERVICE,
                    related_id=service.pk,
                    amount=p.price,
                    description=f"{product.group.name} - {product.name}{f' ({p.domain})' if p.domain else ''}{period}",
                    period_start=today,
                    period_end=end,
                    taxed=product.taxable,
                )
            )
            related_id = service.pk
        if p.setup_fee > 0:
            setup_kind = (
                InvoiceItem.Kind.DOMAIN_SETUP_FEE if product.type == Product.Type.DOMAIN else InvoiceItem.Kind.SETUP_FEE
            )
            lines.append(
                InvoiceLine(
                    kind=setup_kind,
                    related_id=related_id,
                    amount=p.setup_fee,
                    description=f"Setup fee - {product.name}",
                    period_start=today,
                    taxed=product.taxable,
                )
            )
    return lines
