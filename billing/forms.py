"""Forms of the billing admin (and the client area's apply credit). They check what was typed (money against the
currency's places, dates); the rules themselves stay in the services, which every form hands its cleaned data to."""

from __future__ import annotations

import datetime

from django import forms
from django.core.exceptions import ValidationError
from django.utils import timezone

from billing.gateways import GATEWAY_CLASSES, Gateway
from billing.models import BillingSettings, Client, Currency, GatewayConfig, Invoice, Transaction
from billing.money import ZERO, money_validate
from billing.selectors import refundable_on, refundable_transactions
from billing.services import (
    RefundMethod,
    billing_settings_validate,
    gateway_config_validate,
)
from billing.services.settings import BILLING_SETTING_FIELDS, GATEWAY_CONFIG_FIELDS

# More than any amount the books hold needs, written out: longer input is refused before it is parsed.
MONEY_INPUT_MAX_LENGTH = 40


class MoneyFormField(forms.DecimalField):
    """A DecimalField that refuses an over-long input with a form error (money_validate does the rest)."""

    def to_python(self, value):
        if isinstance(value, str) and len(value.strip()) > MONEY_INPUT_MAX_LENGTH:
            raise ValidationError(f"Enter an amount of at most {MONEY_INPUT_MAX_LENGTH} characters.", code="max_length")
        return super().to_python(value)


def money_field(label: str, *, required: bool = True, help_text: str = "") -> forms.DecimalField:
    # No decimal_places on the field: money_validate refuses too many places with the currency's own message.
    return MoneyFormField(
        label=label,
        required=required,
        help_text=help_text,
        widget=forms.TextInput(attrs={"size": 14, "inputmode": "decimal", "autocomplete": "off"}),
    )


def _clean_money(form: forms.Form, name: str, currency: Currency, *, what: str, allow_zero: bool = False):
    amount = form.cleaned_data.get(name)
    if amount is not None:
        money_validate(amount, currency, what=what, allow_zero=allow_zero)
    return amount


class ConfirmForm(forms.Form):
    """Nothing to fill in: the admin only confirms."""

    def __init__(self, *args, invoice: Invoice | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.invoice = invoice


class ReasonForm(ConfirmForm):
    reason = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 3, "cols": 60}),
        help_text="Kept in the activity log.",
    )


class PaymentForm(ConfirmForm):
    """Record a payment received outside the portal (a bank transfer, a card charged by phone)."""

    amount = money_field("Amount")
    gateway = forms.ChoiceField(label="Received through")
    gateway_transaction_id = forms.CharField(
        label="Transaction id",
        max_length=200,
        required=False,
        help_text="The bank's or gateway's reference. A payment with the same gateway and id is recorded once.",
    )
    fees = money_field("Fees", required=False, help_text="What the gateway or bank kept, if anything.")
    date = forms.DateField(
        label="Received on",
        required=False,
        help_text="Empty: today.",
        widget=forms.DateInput(format="%Y-%m-%d", attrs={"type": "date"}),
    )

    def __init__(self, *args, invoice: Invoice, **kwargs):
        super().__init__(*args, invoice=invoice, **kwargs)
        names = dict(GatewayConfig.objects.filter(code__in=GATEWAY_CLASSES).values_list("code", "display_name"))
        # Credit is not a gateway: it is applied with "Apply credit", not recorded as money received.
        self.fields["gateway"].choices = [
            (code, names.get(code) or cls.default_name) for code, cls in GATEWAY_CLASSES.items()
        ]
        self.fields["amount"].initial = invoice.balance_due
        self.fields["fees"].initial = ZERO
        self.fields["date"].initial = timezone.localdate()

    def clean_amount(self):
        return _clean_money(self, "amount", self.invoice.currency, what="The payment")

    def clean_fees(self):
        if self.cleaned_data.get("fees") is None:
            return ZERO
        return _clean_money(self, "fees", self.invoice.currency, what="The fee", allow_zero=True)

    def clean_date(self):
        date = self.cleaned_data["date"] or timezone.localdate()
        if date > timezone.localdate():
            raise ValidationError("A payment cannot be received in the future.")
        return date

    def paid_at(self) -> datetime.datetime:
        """Now for a payment received today; the start of the day for an earlier one."""
        date = self.cleaned_data["date"]
        if date == timezone.localdate():
            return timezone.now()
        return timezone.make_aware(datetime.datetime.combine(date, datetime.time.min))


class PaymentChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, payment: Transaction) -> str:
        money = payment.currency.format
        if payment.kind == Transaction.Kind.CREDIT_APPLIED:
            return (
                f"{payment.date:%Y-%m-%d} credit applied: {money(-payment.credit_change)} "
                f"({money(refundable_on(payment))} refundable to the client's credit)"
            )
        reference = payment.gateway_transaction_id or f"#{payment.pk}"
        return (
            f"{payment.date:%Y-%m-%d} {payment.gateway} {reference}: {money(payment.amount_in)} "
            f"({money(refundable_on(payment))} refundable through the gateway)"
        )


REFUND_METHOD_LABELS = {
    RefundMethod.GATEWAY: "Through the gateway",
    RefundMethod.CREDIT: "To the client's credit",
    RefundMethod.MANUAL: "Already sent by hand",
}


class RefundForm(ConfirmForm):
    payment = PaymentChoiceField(queryset=Transaction.objects.none(), empty_label=None, widget=forms.RadioSelect)
    amount = money_field("Amount")
    method = forms.ChoiceField(
        choices=list(REFUND_METHOD_LABELS.items()), initial=RefundMethod.GATEWAY, widget=forms.RadioSelect
    )
    reason = forms.CharField(
        required=False, widget=forms.Textarea(attrs={"rows": 3, "cols": 60}), help_text="Kept with the refund."
    )

    def __init__(self, *args, invoice: Invoice, **kwargs):
        super().__init__(*args, invoice=invoice, **kwargs)
        # What can still be refunded (billing.selectors.refundable_transactions): payments and credit applied.
        refundable = refundable_transactions(invoice=invoice)
        self.fields["payment"].queryset = Transaction.objects.filter(
            pk__in=[payment.pk for payment in refundable]
        ).order_by("date", "id")
        self.fields["payment"].choices = [
            (payment.pk, self.fields["payment"].label_from_instance(payment)) for payment in refundable
        ]
        if refundable:
            first = refundable[0]
            self.fields["payment"].initial = first.pk
            self.fields["amount"].initial = max(ZERO, min(refundable_on(first), invoice.refundable))
            if first.kind == Transaction.Kind.CREDIT_APPLIED:
                self.fields["method"].initial = RefundMethod.CREDIT

    def clean_amount(self):
        return _clean_money(self, "amount", self.invoice.currency, what="The refund")


class ApplyCreditForm(ConfirmForm):
    amount = money_field("Amount", required=False, help_text="Empty: as much as the credit and the balance allow.")

    def __init__(self, *args, invoice: Invoice, **kwargs):
        super().__init__(*args, invoice=invoice, **kwargs)
        self.fields["amount"].initial = max(ZERO, min(invoice.client.credit_balance, invoice.balance_due))

    def clean_amount(self):
        return _clean_money(self, "amount", self.invoice.currency, what="The credit")


class CreditChangeForm(forms.Form):
    """Add credit to, or remove credit from, a client's balance, always with a reason."""

    amount = money_field("Amount")
    reason = forms.CharField(
        max_length=400,
        widget=forms.Textarea(attrs={"rows": 3, "cols": 60}),
        error_messages={"required": "Say why the credit changes: the reason is kept with the credit history."},
        help_text="Shown in the client's credit history.",
    )

    def __init__(self, *args, client: Client, **kwargs):
        super().__init__(*args, **kwargs)
        self.client = client

    def clean_amount(self):
        return _clean_money(self, "amount", self.client.currency, what="The credit")


# --- gateways --------------------------------------------------------------------------------------------------

SETTING_PREFIX = "setting_"
CLEAR_SUFFIX = "__clear"


class GatewayConfigForm(forms.ModelForm):
    """A gateway's row, plus one field per entry of its class's `setting_fields`, stored in `settings`.

    Secrets are password inputs that never render the stored value: left empty they keep it, "clear" removes
    it. The per-gateway subclass comes from `gateway_config_form_for`."""

    gateway_class: type[Gateway] | None = None

    class Meta:
        model = GatewayConfig
        fields = ("code", "display_name", "enabled", "sort_order")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if "code" in self.fields:  # adding: only an implemented gateway that has no row yet
            taken = set(GatewayConfig.objects.values_list("code", flat=True))
            self.fields["code"] = forms.ChoiceField(
                choices=[(code, cls.default_name) for code, cls in GATEWAY_CLASSES.items() if code not in taken],
                help_text="The implementation in billing.gateways this row configures.",
            )
        stored = self.stored_settings = dict(self.instance.settings or {})  # as the page found them
        for key in self.setting_keys():
            name = SETTING_PREFIX + key
            if key in self.gateway_class.secret_fields:
                if stored.get(key):
                    self.fields[name].help_text += " A value is stored: leave this empty to keep it."
            else:
                self.initial.setdefault(name, stored.get(key, ""))

    def setting_keys(self) -> list[str]:
        return list(self.gateway_class.setting_fields) if self.gateway_class else []

    def clean(self):
        cleaned = super().clean()
        settings = dict(self.instance.settings or {})  # keys the class does not name are left as they are
        for key in self.setting_keys():
            value = (cleaned.get(SETTING_PREFIX + key) or "").strip()
            if key in self.gateway_class.secret_fields:
                if value:
                    settings[key] = value
                elif cleaned.get(SETTING_PREFIX + key + CLEAR_SUFFIX):
                    settings.pop(key, None)
            elif value:
                settings[key] = value
            else:
                settings.pop(key, None)
        self.settings_to_store = settings
        if not self.errors:
            code = self.instance.code if self.instance.pk else cleaned.get("code", "")
            try:
                gateway_config_validate(code=code, changes=gateway_config_changes(self), config_id=self.instance.pk)
            except ValidationError as refused:
                self.add_error(None, refused.messages)
        return cleaned

    def save(self, commit=True):
        if self.gateway_class is not None:
            self.instance.settings = self.settings_to_store
        return super().save(commit)


def gateway_config_changes(form: forms.ModelForm) -> dict:
    """What a gateway's form (its page, or a row of the list's editable columns) changes, as
    gateway_config_update takes it: the changed columns and, when they differ from the stored ones, the settings."""
    changes = {name: form.cleaned_data[name] for name in form.changed_data if name in GATEWAY_CONFIG_FIELDS}
    settings = getattr(form, "settings_to_store", None)
    if settings is not None and settings != form.stored_settings:
        changes["settings"] = settings
    return changes


def setting_field_names(gateway_class: type[Gateway] | None) -> list[str]:
    names = []
    for key in gateway_class.setting_fields if gateway_class else ():
        names.append(SETTING_PREFIX + key)
        if key in gateway_class.secret_fields:
            names.append(SETTING_PREFIX + key + CLEAR_SUFFIX)
    return names


def gateway_config_form_for(code: str | None) -> type[GatewayConfigForm]:
    gateway_class = GATEWAY_CLASSES.get(code or "")
    if gateway_class is None:
        return GatewayConfigForm
    fields: dict[str, forms.Field] = {}
    for key, help_text in gateway_class.setting_fields.items():
        label = key.replace("_", " ").capitalize()
        if key in gateway_class.secret_fields:
            fields[SETTING_PREFIX + key] = forms.CharField(
                label=label,
                required=False,
                help_text=help_text,
                widget=forms.PasswordInput(render_value=False, attrs={"size": 60, "autocomplete": "off"}),
            )
            fields[SETTING_PREFIX + key + CLEAR_SUFFIX] = forms.BooleanField(
                label=f"Clear the stored {label.lower()}", required=False
            )
        else:
            fields[SETTING_PREFIX + key] = forms.CharField(
                label=label, required=False, help_text=help_text, widget=forms.TextInput(attrs={"size": 60})
            )
    return type(f"{gateway_class.__name__}ConfigForm", (GatewayConfigForm,), {"gateway_class": gateway_class, **fields})


# --- settings --------------------------------------------------------------------------------------------------


class BillingSettingsForm(forms.ModelForm):
    """The billing settings; billing_settings_validate checks them, as billing_settings_update does again when it
    saves them under the row's lock."""

    class Meta:
        model = BillingSettings
        fields = BILLING_SETTING_FIELDS  # what billing_settings_update edits, named once

    def changes(self) -> dict:
        return {name: self.cleaned_data[name] for name in self.changed_data if name in self.cleaned_data}

    def clean(self):
        cleaned = super().clean()
        try:
            billing_settings_validate(self.changes())
        except ValidationError as refused:
            self.add_error(None, refused)  # per field: each message shows on its field
        return cleaned
