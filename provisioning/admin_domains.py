"""The TLDs' admin (the extension, its registrar chosen from the installed ones, its price table and fees inline)
and the registrars' configurations (fields built from the registrar's declared settings; secrets are password
inputs that never show what is stored). Both save only through provisioning.services.tlds. A configuration whose
registrar reads a message queue shows how its last poll went (provisioning.admin_polls has them all)."""

from __future__ import annotations

from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError
from django.db.models import OuterRef, Subquery
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html

from core import crypto
from core.admin_lists import LargeTableAdmin
from core.admin_mixins import RefusalsAsMessages
from core.crypto import SecretUnreadable
from provisioning.models import RegistrarConfig, RegistrarPoll, Tld, TldFees, TldPrice
from provisioning.module_forms import SettingsFieldsMixin, registrar_choices, registrar_chosen
from provisioning.registrars import registry as registrars
from provisioning.services.tlds import (
    TLD_FIELDS,
    TldFeesRow,
    TldPriceRow,
    extension_normalize,
    registrar_config_delete,
    registrar_config_save,
    tld_delete,
    tld_save,
)


class TldForm(forms.ModelForm):
    class Meta:
        model = Tld
        fields = TLD_FIELDS

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["registrar"] = forms.ChoiceField(
            choices=registrar_choices(self.instance.registrar if self.instance.pk else ""),
            label="Registrar",
            help_text="The installed registrar that registers, renews and checks this extension's names.",
        )

    def clean_extension(self) -> str:
        """ ".Shop" or an IDN typed as it reads: stored as tld_save stores it (the same function)."""
        try:
            return extension_normalize(self.cleaned_data.get("extension", ""))
        except ValidationError as invalid:
            raise ValidationError(invalid.message_dict["extension"]) from None


class TldPriceInline(admin.TabularInline):
    model = TldPrice
    fields = ("currency", "years", "register_price", "transfer_price", "renew_price")
    extra = 1
    ordering = ("currency__code", "years")


class TldFeesInline(admin.TabularInline):
    model = TldFees
    fields = ("currency", "grace_fee", "redemption_fee")
    extra = 0


def _rows(formset) -> list[dict]:
    """The rows a formset keeps: every filled form not ticked for deletion."""
    return [
        form.cleaned_data
        for form in formset.forms
        if getattr(form, "cleaned_data", None) and not form.cleaned_data.get("DELETE")
    ]


class RegistrarFilter(admin.SimpleListFilter):
    """The installed registrars (listing the column's values would read the whole table)."""

    title = "registrar"
    parameter_name = "registrar"

    def lookups(self, request, model_admin):
        return registrars.choices()

    def queryset(self, request, queryset):
        return queryset.filter(registrar=self.value()) if self.value() else queryset


@admin.register(Tld)
class TldAdmin(RefusalsAsMessages, LargeTableAdmin):
    form = TldForm
    inlines = (TldPriceInline, TldFeesInline)
    list_display = (
        "__str__",
        "registrar",
        "register_when",
        "auto_renew_default",
        "epp_code_required",
        "grace_period_days",
        "redemption_period_days",
        "is_active",
    )
    list_filter = ("is_active", "register_when", RegistrarFilter)
    search_fields = ("extension",)

    def get_actions(self, request):
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)  # one at a time, through tld_delete
        return actions

    def save_model(self, request, obj, form, change) -> None:
        """Nothing yet: save_related saves the TLD and its tables in one call of tld_save."""

    def save_related(self, request, form, formsets, change) -> None:
        prices = fees = None
        for formset in formsets:
            if formset.model is TldPrice:
                prices = [
                    TldPriceRow(
                        currency_id=row["currency"].pk,
                        years=row["years"],
                        register_price=row["register_price"],
                        renew_price=row["renew_price"],
                        transfer_price=row.get("transfer_price"),
                    )
                    for row in _rows(formset)
                ]
            elif formset.model is TldFees:
                fees = [
                    TldFeesRow(
                        currency_id=row["currency"].pk,
                        grace_fee=row.get("grace_fee"),
                        redemption_fee=row.get("redemption_fee"),
                    )
                    for row in _rows(formset)
                ]
        saved = tld_save(
            tld_id=form.instance.pk if change else None,
            # Only what the admin changed: a field another admin saved meanwhile is not written back.
            fields={name: form.cleaned_data[name] for name in TLD_FIELDS if not change or name in form.changed_data},
            prices=prices,
            fees=fees,
            actor=request.user,
        )
        form.instance.pk = saved.tld.pk
        for formset in formsets:  # the admin's history message reads these; tld_save's activity row has the detail
            formset.new_objects, formset.changed_objects, formset.deleted_objects = [], [], []

    def delete_model(self, request, obj) -> None:
        tld_delete(tld_id=obj.pk, actor=request.user)


class RegistrarConfigForm(SettingsFieldsMixin, forms.ModelForm):
    settings_prefix = "setting_"

    class Meta:
        model = RegistrarConfig
        fields = ("name", "is_active")

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        config = self.instance if self.instance.pk else None
        self.fields["name"] = forms.ChoiceField(
            choices=registrar_choices(config.name if config else ""),
            label="Registrar",
            disabled=config is not None,
            help_text="A configuration stays with its registrar. After choosing one, save: its settings appear.",
        )
        self.registrar_name = registrar_chosen(self.data if self.is_bound else None, config.name if config else "")
        registrar_class = registrars.registrar_class(self.registrar_name)
        stored = {}
        if config is not None:
            try:
                secrets = crypto.decrypt_json(config.credentials_token) if config.credentials_token else {}
            except SecretUnreadable:
                secrets = {}
            stored = {**(config.settings or {}), **secrets}
        self.settings_add(registrar_class.settings if registrar_class else (), stored)

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("name") == self.registrar_name:
            self.settings_clean()
        return cleaned


@admin.register(RegistrarConfig)
class RegistrarConfigAdmin(RefusalsAsMessages, LargeTableAdmin):
    form = RegistrarConfigForm
    list_display = ("name", "label", "is_active", "last_poll")

    @admin.display(description="Registrar")
    def label(self, config: RegistrarConfig) -> str:
        registrar_class = registrars.registrar_class(config.name)
        return registrar_class.label if registrar_class else f"{config.name} (not installed)"

    def get_queryset(self, request):
        latest = RegistrarPoll.objects.filter(config=OuterRef("pk")).order_by("-created_at", "-pk")
        return (
            super()
            .get_queryset(request)
            .annotate(
                last_poll_status=Subquery(latest.values("status")[:1]),
                last_poll_at=Subquery(latest.values("created_at")[:1]),
            )
        )

    @admin.display(description="Last message-queue poll")
    def last_poll(self, config: RegistrarConfig) -> str:
        status = getattr(config, "last_poll_status", None)
        if status is None:
            return "-"
        url = reverse("admin:provisioning_registrarpoll_changelist") + f"?config__id__exact={config.pk}"
        label = RegistrarPoll.Status(status).label
        at = timezone.localtime(config.last_poll_at).strftime("%Y-%m-%d %H:%M")
        return format_html('<a href="{}">{}</a> ({})', url, label, at)

    def get_actions(self, request):
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)
        return actions

    def get_fieldsets(self, request, obj=None):
        chosen = registrar_chosen(request.POST if request.method == "POST" else None, obj.name if obj else "")
        fieldsets = [(None, {"fields": ["name", "is_active"]})]
        registrar_class = registrars.registrar_class(chosen)
        if registrar_class is not None and registrar_class.settings:
            names = [RegistrarConfigForm.settings_prefix + setting.name for setting in registrar_class.settings]
            fieldsets.append((f"{registrar_class.label}: settings", {"fields": names}))
        return fieldsets

    def get_form(self, request, obj=None, **kwargs):
        kwargs["fields"] = ["name", "is_active"]
        return super().get_form(request, obj, **kwargs)

    def save_model(self, request, obj, form, change) -> None:
        saved = registrar_config_save(
            config_id=obj.pk if change else None,
            name=obj.name if change else form.cleaned_data["name"],
            settings=form.cleaned_settings,
            is_active=form.cleaned_data["is_active"],
            actor=request.user,
        )
        obj.pk = saved.config.pk

    def delete_model(self, request, obj) -> None:
        registrar_config_delete(config_id=obj.pk, actor=request.user)
