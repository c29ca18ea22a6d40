"""The admin of currencies, logins and clients. A client's page lists the latest of what the client has; credit moves
only through the credit services."""

from __future__ import annotations

from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse

from billing.admin.common import ACTION_TEMPLATE, RECENT, CheckedByService, money_column
from billing.forms import (
    CreditChangeForm,
)
from billing.models import (
    Client,
    Currency,
)
from billing.services import (
    client_create,
    client_update,
    client_update_validate,
    credit_add,
    credit_remove,
)
from core.admin_lists import InputFilter, LargeTableAdmin
from core.admin_mixins import RefusalsAsMessages
from notifications.emails.history import client_emails
from notifications.models import ActivityLog


@admin.register(Currency)
class CurrencyAdmin(LargeTableAdmin):
    list_display = ("code", "prefix", "suffix", "decimal_places", "exchange_rate", "is_default")


# Every client has a log-in, so the users' list grows with the clients: Django's own admin with a bounded count.
admin.site.unregister(get_user_model())


@admin.register(get_user_model())
class UserAdmin(LargeTableAdmin, DjangoUserAdmin):
    pass


class CountryFilter(InputFilter):
    """Typed, not listed: the distinct countries of 100k clients would be read on every page."""

    title = "country"
    parameter_name = "country"
    lookup = "country"
    placeholder = "e.g. DE"

    def clean(self, value: str):
        value = value.upper()
        return value if len(value) == 2 and value.isalpha() else None

    def describe(self, country: str) -> str:
        return f"Clients in {country}."


CREDIT_DIRECTIONS = {
    # url part -> (button label, service, verb for the message)
    "add": ("Add credit", credit_add, "added to"),
    "remove": ("Remove credit", credit_remove, "removed from"),
}


class ClientForm(CheckedByService):
    """The client's page: client_update checks the changes (and again under the row's lock when it saves)."""

    class Meta:
        model = Client
        fields = "__all__"

    def check(self, changes: dict) -> None:
        if self.instance.pk is not None:
            client_update_validate(client_id=self.instance.pk, changes=changes)


# What client_create takes of a new client: the whole form, so adding one writes one activity row.
CREATED_WITH = (
    *("contact_name", "email", "country", "currency", "company_name"),
    *("address_1", "address_2", "city", "state", "postcode", "phone", "tax_exempt", "notes", "user"),
)


@admin.register(Client)
class ClientAdmin(RefusalsAsMessages, LargeTableAdmin):
    form = ClientForm
    list_display = ("contact_name", "company_name", "email", "country", "currency", "credit_display", "status")
    list_filter = ("status", CountryFilter, "currency")
    list_select_related = ("currency",)
    ordering = ("-id",)  # newest first, on the primary key: sorting 100k clients by name costs a full sort
    search_fields = ("contact_name", "company_name", "email")
    readonly_fields = ("status", "credit_balance", "created_at")
    raw_id_fields = ("user",)
    change_form_template = "admin/billing/client/change_form.html"

    credit_display = money_column("credit_balance", "Credit balance")

    def save_model(self, request, obj, form, change) -> None:
        # Not obj.save(): the services lock the row, check it as the domain does and log who changed what.
        if not change:
            fields = {name: form.cleaned_data[name] for name in CREATED_WITH if name in form.cleaned_data}
            obj.pk = client_create(actor=request.user, **fields).pk
            obj.refresh_from_db()
            return
        if changes := form.changes():
            client_update(client_id=obj.pk, changes=changes, actor=request.user)
            obj.refresh_from_db()

    def get_urls(self):
        own = [
            path(
                "<id:client_id>/credit/<slug:direction>/",
                self.admin_site.admin_view(self.credit_view),
                name="billing_client_credit",
            ),
        ]
        return own + super().get_urls()

    def change_view(self, request, object_id, form_url="", extra_context=None):
        extra_context = extra_context or {}
        client = self.get_object(request, object_id)
        if client is not None:
            extra_context.update(client_summary(client))
            extra_context["credit_buttons"] = [
                {
                    "url": reverse("admin:billing_client_credit", args=[client.pk, direction]),
                    "label": label,
                    "direction": direction,
                }
                for direction, (label, _service, _verb) in CREDIT_DIRECTIONS.items()
                if self.has_change_permission(request, client) and (direction == "add" or client.credit_balance > 0)
            ]
        return super().change_view(request, object_id, form_url, extra_context)

    def credit_view(self, request: HttpRequest, client_id: int, direction: str) -> HttpResponse:
        if direction not in CREDIT_DIRECTIONS:
            raise Http404
        label, service, verb = CREDIT_DIRECTIONS[direction]
        client = get_object_or_404(Client.objects.select_related("currency"), pk=client_id)
        if not self.has_change_permission(request, client):
            raise PermissionDenied
        back = reverse("admin:billing_client_change", args=[client.pk])
        form = CreditChangeForm(request.POST if request.method == "POST" else None, client=client)
        if request.method == "POST" and form.is_valid():
            amount, reason = form.cleaned_data["amount"], form.cleaned_data["reason"]
            try:
                service(client_id=client.pk, amount=amount, reason=reason, actor=request.user)
            except ValidationError as exc:
                form.add_error(None, exc.messages)
            else:
                client.refresh_from_db(fields=["credit_balance"])
                self.message_user(
                    request,
                    f"{client.currency.format(amount)} {verb} the credit of {client}; "
                    f"the balance is now {client.currency.format(client.credit_balance)}.",
                    messages.SUCCESS,
                )
                return HttpResponseRedirect(back)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "original": client,
            "title": f"{label}: {client}",
            "summary": [("Credit balance", client.currency.format(client.credit_balance))],
            "form": form,
            "button_label": label,
            "back_url": back,
        }
        return TemplateResponse(request, ACTION_TEMPLATE, context)


CREDIT_KINDS_NOTE = "Every movement of the credit balance: credit added, removed, applied, overpayments, refunds."


def client_summary(client: Client) -> dict:
    """What the client's page shows below the form: the latest rows of each kind, a fixed number of queries.

    Services, domains and orders live in apps above billing, reached through their reverse relations so that
    billing imports none of them."""
    return {
        "recent_invoices": list(client.invoices.select_related("currency").order_by("-date", "-id")[:RECENT]),
        "recent_services": list(client.services.select_related("product", "currency").order_by("-id")[:RECENT]),
        "recent_domains": list(client.domains.order_by("-id")[:RECENT]),
        "recent_orders": list(client.orders.select_related("currency").order_by("-created_at", "-id")[:RECENT]),
        "credit_history": list(
            client.transactions.exclude(credit_change=0)
            .select_related("currency", "invoice")
            .order_by("-date", "-id")[:RECENT]
        ),
        "credit_history_note": CREDIT_KINDS_NOTE,
        "recent_activity": list(
            ActivityLog.objects.filter(client_id=client.pk).order_by("-created_at", "-id")[:RECENT]
        ),
        "recent_emails": list(client_emails(client.pk)[:RECENT]),
        "recent_limit": RECENT,
    }
