"""Add New Order: an admin places an order for a client through the storefront's checkout (order_place), with
the admin as the actor. The page finds the client with a GET search, then takes product and domain lines, a
promotion code and the two options; "More lines" adds blank lines without placing anything. It holds no rule:
checkout refuses what it refuses, and the page shows why."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.admin import ModelAdmin
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, QueryDict
from django.template.response import TemplateResponse
from django.urls import reverse

from billing.cycles import BillingCycle
from billing.models import Client
from billing.selectors import CLIENT_SEARCH_LIMIT, clients_search
from fraud.selectors import fraud_settings_get
from orders.forms import (
    ORDER_DESK_MAX_LINES,
    ORDER_DESK_NEW_LINES,
    ClientChosenForm,
    ClientSearchForm,
    DomainLineFormSet,
    OrderDeskForm,
    ProductLineFormSet,
)
from orders.models import Order
from orders.selectors import order_desk_catalog
from orders.services import order_place
from provisioning.models import Domain

TEMPLATE = "admin/orders/order/add_order.html"
# What a blank line added by "More lines" shows, as the first blank lines do (the forms' initial values).
NEW_LINE_DEFAULTS = {
    "products": {"billing_cycle": BillingCycle.MONTHLY},
    "domains": {"action": Domain.RegistrationType.REGISTER, "years": "1"},
}


def _chosen_client(data: QueryDict) -> Client | None:
    form = ClientChosenForm(data)
    if not form.is_valid():
        return None
    return Client.objects.select_related("currency").filter(pk=form.cleaned_data["client"]).first()


def _with_more_lines(data: QueryDict) -> QueryDict:
    """The posted form again with ORDER_DESK_NEW_LINES more blank lines of each kind, up to the formsets' limit."""
    data = data.copy()
    for prefix, defaults in NEW_LINE_DEFAULTS.items():
        key = f"{prefix}-TOTAL_FORMS"
        raw = data.get(key, "")
        count = min(int(raw), ORDER_DESK_MAX_LINES) if raw.isascii() and raw.isdigit() and len(raw) < 4 else 0
        grown = min(count + ORDER_DESK_NEW_LINES, ORDER_DESK_MAX_LINES)
        for index in range(count, grown):
            for name, value in defaults.items():
                data[f"{prefix}-{index}-{name}"] = value
        data[key] = str(grown)
    return data


def order_desk_view(model_admin: ModelAdmin, request: HttpRequest) -> HttpResponse:
    if not model_admin.has_add_permission(request):
        raise PermissionDenied
    search = ClientSearchForm(request.GET)
    matches: list[Client] = []
    if search.is_valid() and search.cleaned_data["q"]:
        matches = clients_search(text=search.cleaned_data["q"])
    client = _chosen_client(request.POST if request.method == "POST" else request.GET)
    context = {
        **model_admin.admin_site.each_context(request),
        "opts": model_admin.model._meta,
        "title": "Add New Order" + (f" for {client}" if client else ""),
        "search": search,
        "matches": matches,
        "searched": search.is_valid() and bool(search.cleaned_data["q"]),
        "search_limit": CLIENT_SEARCH_LIMIT,
        "client": client,
        "client_missing": "client" in (request.POST if request.method == "POST" else request.GET) and not client,
    }
    if client is None:
        return TemplateResponse(request, TEMPLATE, context)

    catalog = order_desk_catalog(currency=client.currency)
    lines = {"form_kwargs": {"products": catalog.products}, "prefix": "products"}
    domain_lines = {"form_kwargs": {"domains": catalog.domains}, "prefix": "domains"}
    if request.method == "POST":
        data = _with_more_lines(request.POST) if "more_lines" in request.POST else request.POST
        form = OrderDeskForm(data)
        products = ProductLineFormSet(data, **lines)
        domains = DomainLineFormSet(data, **domain_lines)
        if "more_lines" not in request.POST and _all_valid(form, products, domains):
            order = _place(request, client, form, products, domains)
            if order is not None:
                return HttpResponseRedirect(reverse("admin:orders_order_change", args=[order.pk]))
    else:
        form = OrderDeskForm(initial={"client": client.pk})
        products = ProductLineFormSet(**lines)
        domains = DomainLineFormSet(**domain_lines)
    context.update(
        form=form,
        products=products,
        domains=domains,
        catalog=catalog,
        max_lines=ORDER_DESK_MAX_LINES,
        fraud_checked=fraud_settings_get().fraud_check_admin_orders,
    )
    return TemplateResponse(request, TEMPLATE, context)


def _all_valid(*forms) -> bool:
    return all([form.is_valid() for form in forms])  # a list: every form's errors, not only the first's


def _place(request: HttpRequest, client: Client, form, products, domains) -> Order | None:
    items = [item for line in (*products, *domains) if (item := line.cart_item()) is not None]
    if not items:
        form.add_error(None, "Add at least one product or domain: the order is empty.")
        return None
    try:
        order = order_place(
            client=client,
            items=items,
            actor=request.user,
            promo_code=form.cleaned_data["promo_code"],
            # Not the admin's address: the client did not send this order, and the fraud check's IP rules would
            # judge the admin's network.
            ip_address=None,
            invoice=not form.cleaned_data["no_invoice"],
            send_order_email=not form.cleaned_data["no_order_email"],
            placed_by_admin=True,
        )
    except ValidationError as refused:
        form.add_error(None, refused.messages)
        return None
    messages.add_message(request, *_placed_words(order, client))
    return order


def _placed_words(order: Order, client: Client) -> tuple[int, str]:
    invoice = f"{order.invoice} ({order.invoice.get_status_display()})" if order.invoice_id else "no invoice"
    said = f"{order} placed for {client}: {order.get_status_display()}, {invoice}."
    stored = order.fraud_result or {}
    if order.status == Order.Status.FRAUD:
        return messages.WARNING, f"{said} The fraud check scored it {stored.get('score')} and sent it to Fraud."
    if stored.get("skipped_reason"):
        return messages.SUCCESS, f"{said} {stored['skipped_reason']}"
    return messages.SUCCESS, said
