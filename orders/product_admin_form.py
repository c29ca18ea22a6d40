"""The product's admin form: the module is chosen from the registry, and its settings are the fields the chosen
module declares, checked by settings_clean (provisioning.module_forms). The page works without JavaScript: the
fields shown are those of the module in the submitted form (or the saved one), so choosing another module and
saving shows that module's fields, filled with its defaults, and a required one without a default is asked for
before anything is saved."""

from __future__ import annotations

from django import forms

from orders.models import Product
from provisioning.module_forms import SettingsFieldsMixin, module_choices, module_chosen
from provisioning.modules import registry


class ProductForm(SettingsFieldsMixin, forms.ModelForm):
    settings_prefix = "module_setting_"

    class Meta:
        model = Product
        exclude = ("module_settings",)  # noqa: DJ006 - every other column, new ones included; these are typed

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        instance = self.instance if self.instance.pk else None
        current = instance.module if instance else ""
        self.fields["module"] = forms.ChoiceField(
            choices=module_choices(current),
            required=False,
            label="Module",
            help_text="The provisioning module that sets up this product's services. After choosing another one, "
            "save: its settings appear below.",
        )
        self.module_name = module_chosen(self.data if self.is_bound else None, current)
        module_class = registry.module_class(self.module_name)
        stored = (instance.module_settings or {}) if instance and instance.module == self.module_name else {}
        self.settings_add(module_class.product_settings if module_class else (), stored)

    def clean(self):
        cleaned = super().clean()
        module = cleaned.get("module", "")
        if module != self.module_name:
            return cleaned  # an unknown module name: the choice field has said so already
        self.settings_clean()
        return cleaned

    def save(self, commit=True):
        product = super().save(commit=False)
        module_class = registry.module_class(product.module)
        if module_class is not None:
            product.module_settings = self.cleaned_settings
        elif not product.module:
            product.module_settings = {}
        # A module that is not installed keeps the settings it had: there is no declaration to check them against.
        if commit:
            product.save()
            self.save_m2m()
        return product
