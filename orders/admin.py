from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, re_path, reverse
from django.utils.html import format_html

from billing.admin_mixins import SaveChangedFieldsOnly
from orders.forms import AcceptOrderForm, ReasonForm
from orders.models import Order, OrderStatusChange, Product, ProductGroup, ProductPricing, Promotion
from orders.selectors import order_delete_blockers
from orders.services import (
    ServiceAcceptOptions,
    order_accept,
    order_cancel,
    order_delete,
    order_mark_fraud,
    order_set_pending,
)
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
class ProductGroupAdmin(admin.ModelAdmin):
    list_display = ("name", "sort_order", "hidden")


@admin.register(Product)
class ProductAdmin(admin.ModelAdmin):
    list_display = ("name", "group", "type", "auto_setup", "module", "stock_control", "stock_quantity", "retired")
    list_filter = ("group", "type", "auto_setup", "retired")
    list_select_related = ("group",)
    search_fields = ("name",)
    inlines = [PricingInline]


@admin.register(Promotion)
class PromotionAdmin(admin.ModelAdmin):
    list_display = ("code", "kind", "value", "currency", "uses", "max_uses", "valid_from", "valid_until", "is_active")
    list_select_related = ("currency",)
    search_fields = ("code",)
    readonly_fields = ("uses",)


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
class OrderAdmin(SaveChangedFieldsOnly):
    list_display = ("number", "created_at", "client_link", "total_display", "status", "payment_status", "ip_address")
    list_filter = ("status", "created_at")
    list_select_related = ("client", "currency", "invoice")
    search_fields = ("number", "ip_address", "client__contact_name", "client__company_name", "client__email")
    date_hierarchy = "created_at"
    show_full_result_count = False
    ordering = ("-created_at", "-id")
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
        "fraud_result",
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
        "fraud_result",
        "notes",
    )
    inlines = [HistoryInline]
    change_form_template = "admin/orders/order/change_form.html"

    def get_actions(self, request):
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)  # deleting goes through order_delete, one order at a time
        return actions

    def has_add_permission(self, request) -> bool:
        return False  # orders come from checkout

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
            path("<int:order_id>/accept/", self.admin_site.admin_view(self.accept_view), name="orders_order_accept"),
            re_path(
                rf"^(?P<order_id>\d+)/(?P<action>{'|'.join(a for a in _BY_URL_ACTION if a != 'accept')})/$",
                self.admin_site.admin_view(self.transition_view),
                name="orders_order_transition",
            ),
        ]
        return own + super().get_urls()

    def review_buttons(self, order: Order) -> list[dict[str, str]]:
        available = {t.name for t in order.get_available_status_transitions()}
        buttons = []
        for method, (url_action, label, _service, _question) in REVIEW_ACTIONS.items():
            if method in available:
                url = (
                    reverse("admin:orders_order_accept", args=[order.pk])
                    if method == "accept"
                    else reverse("admin:orders_order_transition", args=[order.pk, url_action])
                )
                buttons.append({"url": url, "label": label, "action": url_action})
        return buttons

    def change_view(self, request, object_id, form_url="", extra_context=None):
        extra_context = extra_context or {}
        order = self.get_object(request, object_id)
        if order is not None:
            services, domains = order_items(order_id=order.pk)
            extra_context.update(
                review_buttons=self.review_buttons(order), order_services=services, order_domains=domains
            )
        return super().change_view(request, object_id, form_url, extra_context)

    def _order_for_review(self, request: HttpRequest, order_id: int) -> Order:
        order = get_object_or_404(Order.objects.select_related("client", "currency", "invoice"), pk=order_id)
        if not self.has_change_permission(request, order):
            raise PermissionDenied
        return order

    def _back(self, order: Order) -> HttpResponseRedirect:
        return HttpResponseRedirect(reverse("admin:orders_order_change", args=[order.pk]))

    def _report(self, request, order: Order, done: str, outcomes: list[str]) -> None:
        self.message_user(request, f"{order} {done}.", messages.SUCCESS)
        for line in outcomes:
            self.message_user(request, line, messages.INFO)

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
            options = {
                s.pk: ServiceAcceptOptions(
                    run_module_create=data[f"svc_{s.pk}_module"], send_welcome_email=data[f"svc_{s.pk}_welcome"]
                )
                for s in pending_services
            }
            registrar = {d.pk: data[f"dom_{d.pk}_registrar"] for d in pending_domains}
            try:
                outcomes = order_accept(
                    order=order,
                    actor=request.user,
                    service_options=options,
                    registrar_domains=registrar,
                    reason=data["reason"],
                )
            except ValidationError as exc:
                self.message_user(request, " ".join(exc.messages), messages.ERROR)
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
