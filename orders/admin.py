import datetime

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, re_path, reverse
from django.utils.html import format_html

from billing.money import format_rate
from core.admin_lists import LargeTableAdmin
from core.admin_mixins import SaveChangedFieldsOnly
from fraud.engine import RULES as FRAUD_RULES
from fraud.geoip import geoip_warnings
from orders.admin_order_desk import order_desk_view
from orders.forms import AcceptOrderForm, ReasonForm
from orders.models import Order, OrderStatusChange, Product, ProductGroup, ProductPricing, Promotion
from orders.product_admin_form import ProductForm
from orders.selectors import order_delete_blockers, order_review_actions
from orders.services import (
    ReviewLine,
    order_accept,
    order_cancel,
    order_delete,
    order_mark_fraud,
    order_set_pending,
)
from orders.services.fraud import order_fraud_recheck, stored_fraud_result
from orders.wording import review_line_words
from provisioning.module_forms import module_chosen
from provisioning.modules import registry
from provisioning.selectors import order_items

# Transition method on Order -> (url action, button label, service, confirmation question)
REVIEW_ACTIONS = {
    "accept": ("accept", "Accept order", None, None),
    "cancel": (
        "cancel",
        "Cancel order",
        order_cancel,
        "Cancel this order? Every item is cancelled, live accounts are terminated and the unpaid invoice is cancelled.",
    ),
    "mark_fraud": (
        "fraud",
        "Mark as fraud",
        order_mark_fraud,
        "Mark this order as fraud? Every item is set to Fraud, live accounts are terminated "
        "and the unpaid invoice is cancelled.",
    ),
    "set_pending": (
        "pending",
        "Set back to pending",
        order_set_pending,
        "Set this order back to pending? Its items return to Pending and its invoice to Unpaid.",
    ),
}
_BY_URL_ACTION = {url_action: method for method, (url_action, *_rest) in REVIEW_ACTIONS.items()}


class PricingInline(admin.TabularInline):
    model = ProductPricing
    extra = 0


@admin.register(ProductGroup)
class ProductGroupAdmin(LargeTableAdmin):
    list_display = ("name", "sort_order", "hidden")


@admin.register(Product)
class ProductAdmin(LargeTableAdmin):
    """A catalog row saved by Django's admin; its module is chosen from the registry and its module settings are
    the chosen module's declared fields, checked by settings_clean: a bad value is a form error and saves nothing."""

    form = ProductForm
    list_display = ("name", "group", "type", "auto_setup", "module", "stock_control", "stock_quantity", "retired")
    list_filter = ("group", "type", "auto_setup", "retired")
    list_select_related = ("group",)
    search_fields = ("name",)
    inlines = [PricingInline]

    def get_form(self, request, obj=None, **kwargs):
        # The module's fields are added by the form itself (they depend on the module chosen), not by the model.
        kwargs["fields"] = None
        return super().get_form(request, obj, **kwargs)

    def get_fieldsets(self, request, obj=None):
        fieldsets = list(super().get_fieldsets(request, obj))
        module = module_chosen(request.POST if request.method == "POST" else None, obj.module if obj else "")
        module_class = registry.module_class(module)
        if module_class is not None and module_class.product_settings:
            names = [ProductForm.settings_prefix + setting.name for setting in module_class.product_settings]
            fieldsets.append((f"{module_class.label}: module settings", {"fields": names}))
        return fieldsets


@admin.register(Promotion)
class PromotionAdmin(LargeTableAdmin):
    list_display = (
        "code",
        "kind",
        "value_display",
        "currency",
        "uses",
        "max_uses",
        "valid_from",
        "valid_until",
        "is_active",
    )
    list_select_related = ("currency",)
    search_fields = ("code",)
    readonly_fields = ("uses",)

    @admin.display(description="value", ordering="value")
    def value_display(self, promotion: Promotion) -> str:
        if promotion.kind == Promotion.Kind.PERCENT:
            return format_rate(promotion.value)
        return promotion.currency.format(promotion.value) if promotion.currency else str(promotion.value)


class ReadOnlyInline(admin.TabularInline):
    extra = 0
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


class HistoryInline(ReadOnlyInline):
    model = OrderStatusChange
    fields = ("created_at", "from_status", "to_status", "actor_label", "reason")
    show_change_link = False
    verbose_name_plural = "status history"


@admin.register(Order)
class OrderAdmin(SaveChangedFieldsOnly, LargeTableAdmin):
    list_display = (
        "number",
        "created_at",
        "client_link",
        "total_display",
        "status",
        "payment_status",
        "ip_address",
        "fraud_score",
    )
    list_filter = ("status", "created_at")
    list_select_related = ("client", "currency", "invoice")
    search_fields = ("number", "ip_address", "client__contact_name", "client__company_name", "client__email")
    # Newest first on the primary key: the table has no index on created_at alone, and sorting a million orders
    # by it costs a full sort on every page. Orders are numbered as they are placed, so the order is the same.
    ordering = ("-id",)
    readonly_fields = (
        "number",
        "client",
        "status",
        "created_at",
        "currency",
        "total_display",
        "invoice_link",
        "ip_address",
        "promo_code",
        "fraud_score",
    )
    fields = (
        "number",
        "client",
        "status",
        "created_at",
        "currency",
        "total_display",
        "invoice_link",
        "ip_address",
        "promo_code",
        "fraud_score",
        "notes",
    )
    inlines = [HistoryInline]
    change_form_template = "admin/orders/order/change_form.html"

    def get_actions(self, request):
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)  # deleting goes through order_delete, one order at a time
        return actions

    # Orders come from checkout: the storefront's, or Add New Order's (orders.add_order), which is this page.
    def add_view(self, request: HttpRequest, form_url="", extra_context=None) -> HttpResponse:
        return order_desk_view(self, request)

    @admin.display(description="Client", ordering="client__contact_name")
    def client_link(self, order: Order) -> str:
        url = reverse("admin:billing_client_change", args=[order.client_id])
        return format_html('<a href="{}">{}</a>', url, order.client)

    @admin.display(description="Total", ordering="total")
    def total_display(self, order: Order) -> str:
        return order.currency.format(order.total)

    @admin.display(description="Payment")
    def payment_status(self, order: Order) -> str:
        return order.invoice.get_status_display() if order.invoice_id else "—"

    @admin.display(description="Invoice")
    def invoice_link(self, order: Order) -> str:
        if not order.invoice_id:
            return "—"
        url = reverse("admin:billing_invoice_change", args=[order.invoice_id])
        return format_html('<a href="{}">{}</a> ({})', url, order.invoice, order.invoice.get_status_display())

    def get_urls(self):
        own = [
            path("<id:order_id>/accept/", self.admin_site.admin_view(self.accept_view), name="orders_order_accept"),
            re_path(
                rf"^(?P<order_id>\d+)/(?P<action>{'|'.join(a for a in _BY_URL_ACTION if a != 'accept')})/$",
                self.admin_site.admin_view(self.transition_view),
                name="orders_order_transition",
            ),
            path(
                "<id:order_id>/fraud-check/",
                self.admin_site.admin_view(self.fraud_recheck_view),
                name="orders_order_fraud_recheck",
            ),
        ]
        return own + super().get_urls()

    def review_buttons(self, order: Order) -> list[dict[str, str]]:
        buttons = []
        for method in order_review_actions(order=order):
            url_action, label, _service, _question = REVIEW_ACTIONS[method]
            url = (
                reverse("admin:orders_order_accept", args=[order.pk])
                if method == "accept"
                else reverse("admin:orders_order_transition", args=[order.pk, url_action])
            )
            buttons.append({"url": url, "label": label, "action": url_action})
        return buttons

    def change_view(self, request, object_id, form_url="", extra_context=None):
        extra_context = extra_context or {}
        extra_context["show_save_and_add_another"] = False  # a new order is placed by Add New Order, not this form
        order = self.get_object(request, object_id)
        if order is not None:
            services, domains = order_items(order_id=order.pk)
            extra_context.update(
                review_buttons=self.review_buttons(order),
                order_services=services,
                order_domains=domains,
                fraud=fraud_report(order),
                fraud_recheck_url=reverse("admin:orders_order_fraud_recheck", args=[order.pk]),
            )
        return super().change_view(request, object_id, form_url, extra_context)

    def _order_for_review(self, request: HttpRequest, order_id: int) -> Order:
        order = get_object_or_404(Order.objects.select_related("client", "currency", "invoice"), pk=order_id)
        if not self.has_change_permission(request, order):
            raise PermissionDenied
        return order

    def _back(self, order: Order) -> HttpResponseRedirect:
        return HttpResponseRedirect(reverse("admin:orders_order_change", args=[order.pk]))

    def _report(self, request, order: Order, done: str, outcomes: list[ReviewLine]) -> None:
        self.message_user(request, f"{order} {done}.", messages.SUCCESS)
        for line in outcomes:
            self.message_user(request, review_line_words(line), messages.INFO)

    def accept_view(self, request: HttpRequest, order_id: int) -> HttpResponse:
        order = self._order_for_review(request, order_id)
        services, domains = order_items(order_id=order.pk)
        pending_services = [s for s in services if s.status == s.Status.PENDING]
        pending_domains = [d for d in domains if d.status == d.Status.PENDING]
        form = AcceptOrderForm(
            request.POST if request.method == "POST" else None, services=pending_services, domains=pending_domains
        )
        if request.method == "POST" and form.is_valid():
            data = form.cleaned_data
            registrar = {d.pk: data[f"dom_{d.pk}_registrar"] for d in pending_domains}
            try:
                outcomes = order_accept(
                    order=order,
                    actor=request.user,
                    service_options=form.service_options(),
                    registrar_domains=registrar,
                    domain_registrars={d.pk: data[f"dom_{d.pk}_registrar_name"] for d in pending_domains},
                    reason=data["reason"],
                )
            except ValidationError as exc:
                form.add_error(None, exc)  # nothing was accepted: the form again, with why
            else:
                self._report(request, order, "accepted", outcomes)
                return self._back(order)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "order": order,
            "form": form,
            "title": f"Accept {order}",
            "all_services": services,
            "all_domains": domains,
        }
        return TemplateResponse(request, "admin/orders/order/accept.html", context)

    def transition_view(self, request: HttpRequest, order_id: int, action: str) -> HttpResponse:
        method = _BY_URL_ACTION.get(action)
        if method is None or method == "accept":
            raise PermissionDenied
        order = self._order_for_review(request, order_id)
        _url_action, label, service, question = REVIEW_ACTIONS[method]
        form = ReasonForm(request.POST if request.method == "POST" else None)
        if request.method == "POST" and form.is_valid():
            try:
                outcomes = service(order=order, actor=request.user, reason=form.cleaned_data["reason"])
            except ValidationError as exc:
                self.message_user(request, " ".join(exc.messages), messages.ERROR)
            else:
                order.refresh_from_db()
                self._report(request, order, f"is now {order.get_status_display()}", outcomes)
            return self._back(order)
        services, domains = order_items(order_id=order.pk)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "order": order,
            "form": form,
            "title": f"{label}: {order}",
            "question": question,
            "button_label": label,
            "all_services": services,
            "all_domains": domains,
        }
        return TemplateResponse(request, "admin/orders/order/confirm_transition.html", context)

    def delete_view(self, request: HttpRequest, object_id: str, extra_context=None) -> HttpResponse:
        order = get_object_or_404(Order.objects.select_related("client", "currency", "invoice"), pk=object_id)
        if not self.has_delete_permission(request, order):
            raise PermissionDenied
        if request.method == "POST":
            try:
                order_delete(order=order, actor=request.user)
            except ValidationError as exc:
                self.message_user(request, " ".join(exc.messages), messages.ERROR)
                return self._back(order)
            self.message_user(request, f"{order} and its items were deleted.", messages.SUCCESS)
            return HttpResponseRedirect(reverse("admin:orders_order_changelist"))
        services, domains = order_items(order_id=order.pk)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "order": order,
            "blockers": order_delete_blockers(order=order, services=services, domains=domains),
            "title": f"Delete {order}?",
            "all_services": services,
            "all_domains": domains,
        }
        return TemplateResponse(request, "admin/orders/order/delete_order.html", context)

    def fraud_recheck_view(self, request: HttpRequest, order_id: int) -> HttpResponse:
        """Run the fraud check again and store its result; the order keeps its status (the admin then decides
        with the review buttons)."""
        order = self._order_for_review(request, order_id)
        if request.method == "POST":
            try:
                screening = order_fraud_recheck(order_id=order.pk, actor=request.user)
            except ValidationError as exc:
                self.message_user(request, " ".join(exc.messages), messages.ERROR)
                return self._back(order)
            if screening.failed:
                self.message_user(
                    request,
                    f"The fraud check of {order} failed ({screening.stored['error']}); the stored result is unchanged.",
                    messages.ERROR,
                )
                return self._back(order)
            stored = screening.stored
            verdict = "at or above" if screening.is_fraud else "below"
            order.refresh_from_db()
            self.message_user(
                request,
                f"Fraud check of {order} run again: score {stored['score']}, {verdict} the threshold "
                f"{stored['threshold']}. The order stays {order.get_status_display()}; "
                "use the review buttons to change it.",
                messages.SUCCESS if not screening.is_fraud else messages.WARNING,
            )
            return self._back(order)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "order": order,
            "title": f"Run the fraud check again: {order}",
            "fraud": fraud_report(order),
        }
        return TemplateResponse(request, "admin/orders/order/fraud_recheck.html", context)


# GeoIP facts shown on the order page, in this order: (key in the stored result, label).
_GEOIP_ROWS = (
    ("network", "Network"),
    ("country", "Country"),
    ("region", "Region"),
    ("city", "City"),
    ("location", "Location"),
    ("network_owner", "Network owner"),
    ("flags", "Flags"),
    ("databases", "Databases used"),
)
_GEOIP_FLAGS = (
    ("is_anonymous", "anonymous"),
    ("is_anonymous_vpn", "anonymous VPN"),
    ("is_public_proxy", "public proxy"),
    ("is_tor_exit_node", "Tor exit node"),
    ("is_residential_proxy", "residential proxy"),
    ("is_hosting_provider", "hosting provider"),
)


def _geoip_rows(geoip: dict) -> list[tuple[str, str]]:
    values = {
        "network": geoip.get("network", ""),
        "country": " ".join(part for part in (geoip.get("country_name", ""), f"({geoip['country_code']})") if part)
        if geoip.get("country_code")
        else "",
        "region": geoip.get("region_name") or geoip.get("region_code", ""),
        "city": geoip.get("city", ""),
        "location": (
            f"{geoip['latitude']}, {geoip['longitude']}"
            + (f" (within {geoip['accuracy_radius_km']} km)" if geoip.get("accuracy_radius_km") else "")
            if geoip.get("latitude") is not None and geoip.get("longitude") is not None
            else ""
        ),
        "network_owner": f"AS{geoip['asn']} {geoip.get('as_organization', '')}".strip()
        if geoip.get("asn") is not None
        else geoip.get("as_organization", ""),
        "flags": ", ".join(label for key, label in _GEOIP_FLAGS if geoip.get(key)),
        "databases": ", ".join(geoip.get("databases", ())),
    }
    return [(label, values[key]) for key, label in _GEOIP_ROWS if values[key]]


def fraud_report(order: Order) -> dict:
    """The stored fraud result as the order page shows it, with today's GeoIP warnings (a database that is missing
    now, whatever it was when the order was checked)."""
    stored = order.fraud_result or {}
    result = stored_fraud_result(stored)
    report = {
        "checked": bool(stored),
        "error": stored.get("error", ""),
        "checked_at": _when(stored.get("checked_at", "")),
        "checked_by": stored.get("checked_by", ""),
        "recheck": stored.get("recheck", False),
        "geoip_warnings_now": geoip_warnings(),
        "ip": stored.get("ip") or {},
    }
    if result is None:
        return report
    report.update(
        result=result,
        is_fraud=result.is_fraud,
        rules=[
            {
                "code": rule.code,
                "title": FRAUD_RULES[rule.code].title if rule.code in FRAUD_RULES else rule.code,
                "points": rule.points,
                "sentence": rule.sentence,
            }
            for rule in result.rules
        ],
        geoip_rows=_geoip_rows(stored.get("geoip") or {}),
        geoip_unavailable=(stored.get("geoip") or {}).get("unavailable_reason", ""),
        warnings=list(result.warnings),
        fact_rows=_fact_rows(stored.get("facts") or {}),
    )
    return report


_FACT_ROWS = (
    ("billing_country", "Billing country"),
    ("billing_city", "Billing city"),
    ("email", "Email"),
    ("client_age_days", "Client account age (days)"),
    ("earlier_orders", "Earlier orders by the client"),
    ("has_paid_invoice", "Client paid an earlier invoice"),
    ("client_has_active_service", "Client has an active service"),
    ("earlier_fraud_orders_same_client", "Earlier Fraud orders: same client"),
    ("earlier_fraud_orders_same_email", "Earlier Fraud orders: same email"),
    ("earlier_fraud_orders_same_ip", "Earlier Fraud orders: same IP"),
    ("orders_from_ip_last_hour", "Earlier orders from the IP in the hour before"),
    ("services_ordered", "Services ordered"),
    ("paid_by_credit", "Paid by credit"),
    ("placed_by_admin", "Placed by an admin"),
)


def _when(text: str) -> datetime.datetime | str:
    try:
        return datetime.datetime.fromisoformat(text)
    except (TypeError, ValueError):
        return text


def _fact_rows(facts: dict) -> list[tuple[str, str]]:
    rows = [(label, facts[key]) for key, label in _FACT_ROWS if facts.get(key) not in (None, "")]
    if "order_total" in facts:
        rows.append(
            (
                "Order total",
                f"{facts['order_total']} {facts.get('currency', '')} (rate {facts.get('exchange_rate', '1')})",
            )
        )
    mixed = [
        f"{d.get('name')} ({d.get('ascii_name')}): {', '.join(d.get('scripts', ()))} in '{d.get('label')}'"
        for d in facts.get("mixed_script_domains") or ()
    ]
    if mixed:
        rows.append(("Domain names mixing scripts", "; ".join(mixed)))
    return [(label, "yes" if value is True else "no" if value is False else str(value)) for label, value in rows]
