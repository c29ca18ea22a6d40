"""Client area: dashboard, orders, profile and the storefront (catalog, cart, checkout). Every query is scoped
to the logged-in user's client; the business rules live in the services these views call."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.db.models import Sum
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from billing.models import Invoice
from billing.money import ZERO
from billing.selectors import client_invoices
from billing.services import client_update_contact
from core import crypto
from core.domain_names import normalize_domain_name
from core.requests import client_address, client_of
from orders.forms import AddToCartForm, CheckoutForm, ProfileForm
from orders.models import Order, Product
from orders.selectors import cart_lines, catalog, client_orders, domain_price_list, product_for_sale
from orders.services import CartItem, order_place
from provisioning.models import Service
from provisioning.selectors import client_domains, client_services
from provisioning.services.domain_availability import AvailabilityState, domain_availability

DASHBOARD_ROWS = 10
PER_PAGE = 25
CART_SESSION_KEY = "cart"
CART_LIMIT = 20


@login_required
def dashboard(request: HttpRequest) -> HttpResponse:
    client = getattr(request.user, "client", None)
    if client is None:
        return render(request, "clientarea/no_client.html", status=200)
    open_invoices = client_invoices(client=client).filter(status__in=Invoice.PAYABLE_STATUSES)
    context = {
        "client": client,
        "unpaid_total": open_invoices.aggregate(total=Sum("balance_due"))["total"] or ZERO,
        "unpaid_count": open_invoices.count(),
        "active_services": client_services(client=client).filter(status=Service.Status.ACTIVE).count(),
        "upcoming": client_services(client=client)
        .filter(status=Service.Status.ACTIVE, next_due_date__isnull=False)
        .order_by("next_due_date")[:DASHBOARD_ROWS],
        "orders": client_orders(client=client)[:DASHBOARD_ROWS],
        "services": client_services(client=client)[:DASHBOARD_ROWS],
        "domains": client_domains(client=client)[:DASHBOARD_ROWS],
        "invoices": client_invoices(client=client)[:DASHBOARD_ROWS],
    }
    return render(request, "clientarea/dashboard.html", context)


@login_required
def order_list(request: HttpRequest) -> HttpResponse:
    client = client_of(request)
    page = Paginator(client_orders(client=client), PER_PAGE).get_page(request.GET.get("page"))
    return render(request, "clientarea/order_list.html", {"client": client, "page": page})


@login_required
def profile(request: HttpRequest) -> HttpResponse:
    client = client_of(request)
    initial = {field: getattr(client, field) for field in ProfileForm.base_fields}
    form = ProfileForm(request.POST if request.method == "POST" else None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            client_update_contact(client_id=client.pk, changes=form.cleaned_data, actor=request.user)
        except ValidationError as refused:
            _form_errors(form, refused)
        else:
            messages.success(request, "Your details were saved.")
            return redirect("clientarea:profile")
    return render(request, "clientarea/profile.html", {"client": client, "form": form})


def _form_errors(form, error: ValidationError) -> None:
    if hasattr(error, "error_dict"):
        for field, errors in error.message_dict.items():
            form.add_error(field if field in form.fields else None, errors)
    else:
        form.add_error(None, error.messages)


# --- storefront --------------------------------------------------------------------------------------------


@login_required
def store(request: HttpRequest) -> HttpResponse:
    client = client_of(request)
    return render(
        request,
        "clientarea/store.html",
        {"client": client, "catalog": catalog(currency=client.currency), "cart_size": len(_cart(request))},
    )


@login_required
def store_product(request: HttpRequest, product_id: int) -> HttpResponse:
    client = client_of(request)
    found = product_for_sale(product_id=product_id, currency=client.currency)
    if found is None:
        raise Http404("No such product for sale")
    product, prices = found
    is_domain = product.type == Product.Type.DOMAIN
    price_list = domain_price_list(prices=prices, currency=client.currency) if is_domain else None
    form = AddToCartForm(
        request.POST if request.method == "POST" else None,
        product=product,
        prices=prices,
        currency=client.currency,
        domain_years=price_list.years if price_list else (),
    )
    if request.method == "POST" and form.is_valid():
        cart = _cart(request)
        domain = form.cleaned_data.get("domain", "").strip()
        if len(cart) >= CART_LIMIT:
            form.add_error(None, f"A cart holds at most {CART_LIMIT} items: check out first.")
        elif (
            is_domain
            and form.cleaned_data.get("domain_action") != "transfer"
            and (refusal := _availability_refusal(normalize_domain_name(domain)))
        ):
            form.add_error("domain", refusal)
        else:
            cart.append(
                {
                    "product_id": product.pk,
                    "billing_cycle": form.cleaned_data.get("billing_cycle") or "annually",
                    "years": form.cleaned_data.get("years") or 0,
                    "domain": domain,
                    "domain_action": form.cleaned_data.get("domain_action") or "register",
                    # The session is stored server-side, but a secret is kept there encrypted all the same.
                    "epp_code_token": crypto.encrypt(form.cleaned_data.get("epp_code") or ""),
                }
            )
            request.session[CART_SESSION_KEY] = cart
            messages.success(request, f"{product.name} is in your cart.")
            return redirect("clientarea:cart")
    return render(
        request,
        "clientarea/store_product.html",
        {"client": client, "product": product, "form": form, "price_list": price_list},
    )


def _availability_refusal(name: str) -> str:
    """Why a name cannot go in the cart, in the client's words; empty when it may (checkout asks again)."""
    answer = domain_availability(name=name)
    if answer.state is AvailabilityState.TAKEN:
        return f"{name} is taken: choose another name, or transfer it in if it is yours."
    if answer.state is AvailabilityState.FAILED:
        return f"We could not check {name} with the registry just now: please try again in a few minutes."
    return ""


def _cart(request: HttpRequest) -> list[dict]:
    cart = request.session.get(CART_SESSION_KEY, [])
    return cart if isinstance(cart, list) else []


@login_required
def cart(request: HttpRequest) -> HttpResponse:
    client = client_of(request)
    lines = cart_lines(entries=_cart(request), currency=client.currency)
    return render(
        request,
        "clientarea/cart.html",
        {
            "client": client,
            "lines": lines,
            "subtotal": sum((line.due_today for line in lines), ZERO),
            "form": CheckoutForm(),
        },
    )


@login_required
@require_POST
def cart_remove(request: HttpRequest, index: int) -> HttpResponse:
    client_of(request)
    cart = _cart(request)
    if 0 <= index < len(cart):
        cart.pop(index)
        request.session[CART_SESSION_KEY] = cart
    return redirect("clientarea:cart")


@login_required
@require_POST
def checkout(request: HttpRequest) -> HttpResponse:
    client = client_of(request)
    form = CheckoutForm(request.POST)
    entries = _cart(request)
    if not form.is_valid():
        messages.error(request, "Please accept the terms of service to order.")
        return redirect("clientarea:cart")
    try:
        items = [
            CartItem(
                product_id=int(entry["product_id"]),
                billing_cycle=str(entry["billing_cycle"]),
                domain=str(entry.get("domain", "")),
                domain_action=str(entry.get("domain_action") or "register"),
                years=int(entry.get("years") or 0),
                epp_code=crypto.decrypt(str(entry.get("epp_code_token") or "")),
            )
            for entry in entries
        ]
        order = order_place(
            client=client,
            items=items,
            actor=request.user,
            promo_code=form.cleaned_data["promo_code"],
            ip_address=client_address(request),
        )
    except (KeyError, TypeError, ValueError, crypto.SecretUnreadable):
        request.session[CART_SESSION_KEY] = []
        messages.error(request, "Your cart could not be read and was emptied. Please add the products again.")
        return redirect("clientarea:store")
    except ValidationError as refused:
        for message in refused.messages:
            messages.error(request, message)
        return redirect("clientarea:cart")
    request.session[CART_SESSION_KEY] = []
    if order.status == Order.Status.FRAUD:
        # Said plainly, without telling a fraudster which rule caught them; an admin reviews the order.
        messages.warning(
            request, f"Order {order.number} was received and needs a manual review before it can go ahead."
        )
        return redirect("clientarea:order_list")
    messages.success(request, f"Thank you! Order {order.number} is placed.")
    if order.invoice_id:
        return redirect("clientarea:invoice_detail", order.invoice_id)
    return redirect("clientarea:order_list")
