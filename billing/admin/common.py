"""What the billing admin's pages share: money columns, links, id filters and read-only inlines."""

from __future__ import annotations

from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils.html import format_html

from billing.gateways import GATEWAY_CLASSES
from billing.models import (
    Client,
    Invoice,
)
from billing.services import CREDIT_GATEWAY
from core.admin_lists import PositiveIdFilter

ACTION_TEMPLATE = "admin/billing/action_form.html"
RECENT = 20  # rows of each kind on a client's page


def money_column(field_name: str, description: str):
    """A read-only column or field showing a money field in the row's currency (the row selects its currency)."""

    @admin.display(description=description)
    def column(self, obj) -> str:
        return obj.currency.format(getattr(obj, field_name))

    column.__name__ = f"{field_name}_display"
    return column


def admin_link(url_name: str, pk: int | None, text) -> str:
    if pk is None:
        return "—"
    return format_html('<a href="{}">{}</a>', reverse(url_name, args=[pk]), text)


class ClientIdFilter(PositiveIdFilter):
    """Filter by client id from a text box: a list of 100k clients in the sidebar would load them all."""

    title = "client"
    parameter_name = "client"
    lookup = "client_id"
    placeholder = "client id"
    target = Client


class GatewayCodeFilter(admin.SimpleListFilter):
    """The implemented gateways and the credit ledger: listing the column's distinct values would read the whole
    table."""

    title = "gateway"
    parameter_name = "gateway"

    def lookups(self, request, model_admin):
        gateways = [(code, cls.default_name) for code, cls in GATEWAY_CLASSES.items()]
        return [*gateways, (CREDIT_GATEWAY, "Account credit")]  # the credit ledger's movements

    def queryset(self, request, queryset):
        return queryset.filter(gateway=self.value()) if self.value() else queryset


class ReadOnlyInline(admin.TabularInline):
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


class InvoiceIdFilter(PositiveIdFilter):
    """Filter by invoice id from a text box."""

    title = "invoice"
    parameter_name = "invoice"
    lookup = "invoice_id"
    placeholder = "invoice id"
    target = Invoice


def refusal_on_form(form: forms.BaseForm, refused: ValidationError) -> None:
    """A service's refusal shown on the form: on its field where the form has it, above the form otherwise."""
    if hasattr(refused, "error_dict"):
        for field, errors in refused.error_dict.items():
            form.add_error(field if field in form.fields else None, errors)
    else:
        form.add_error(None, refused.messages)


class CheckedByService(forms.ModelForm):
    """An admin form whose changes a service checks before the page saves them (and again under the row's lock
    when it saves them): a refusal is a form error and changes nothing. `check` is the service's validation."""

    def check(self, changes: dict) -> None:
        raise NotImplementedError

    def changes(self) -> dict:
        return {name: self.cleaned_data[name] for name in self.changed_data if name in self.cleaned_data}

    def clean(self):
        cleaned = super().clean()
        if not self.errors:
            try:
                self.check(self.changes())
            except ValidationError as refused:
                refusal_on_form(self, refused)
        return cleaned
