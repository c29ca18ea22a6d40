"""Forms built from a module's declared settings (provisioning.modules.base.Setting), for the product's and the
server's admin pages and the change-package form. The fields only collect text; the values are checked by
`settings_clean`, the same rules the services apply, so a setting is valid or not in one place.

A secret is a password input that never shows the stored value: left blank, the stored value is kept."""

from __future__ import annotations

from typing import Any

from django import forms

from provisioning.modules import registry
from provisioning.modules.base import Setting, SettingsInvalid, SettingType, settings_clean
from provisioning.registrars import registry as registrars


def setting_field(setting: Setting, *, stored: Any = None) -> forms.Field:
    """The form field for one declared setting. Validation is settings_clean's: the field only keeps the input
    (an integer's bounds are also put on the input, as a hint to the browser)."""
    common = {"label": setting.label, "help_text": setting.help, "required": False}
    if setting.type is SettingType.BOOLEAN:
        return forms.BooleanField(**common)
    if setting.type is SettingType.INTEGER:
        attrs = {"inputmode": "numeric"}
        if setting.min_value is not None:
            attrs["min"] = str(setting.min_value)
        if setting.max_value is not None:
            attrs["max"] = str(setting.max_value)
        return forms.CharField(widget=forms.NumberInput(attrs=attrs), strip=True, **common)
    if setting.type is SettingType.CHOICE:
        choices = list(setting.choices)
        if not setting.required and "" not in {value for value, _label in choices}:
            choices = [("", "---------"), *choices]
        return forms.TypedChoiceField(choices=choices, **common)
    if setting.type is SettingType.SECRET:
        kept = " Leave blank to keep the stored value." if stored else ""
        return forms.CharField(
            widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
            strip=False,
            **{**common, "help_text": (setting.help + kept).strip()},
        )
    if setting.type is SettingType.LINES:
        return forms.CharField(widget=forms.Textarea(attrs={"rows": 5}), strip=False, **common)
    return forms.CharField(strip=True, **common)


def settings_initial(declared: tuple[Setting, ...], stored: dict[str, Any] | None) -> dict[str, Any]:
    """What the fields show: the stored value, else the default; never a secret."""
    stored = stored or {}
    initial: dict[str, Any] = {}
    for setting in declared:
        if setting.type is SettingType.SECRET:
            continue
        value = stored.get(setting.name, setting.default)
        initial[setting.name] = "" if value is None else value
    return initial


def settings_from_input(
    declared: tuple[Setting, ...], given: dict[str, Any], stored: dict[str, Any] | None
) -> dict[str, Any]:
    """The values to check: what was entered, a blank secret replaced by the stored one."""
    stored = stored or {}
    values = {}
    for setting in declared:
        value = given.get(setting.name)
        if setting.type is SettingType.SECRET and (value is None or value == ""):
            value = stored.get(setting.name, "")
        values[setting.name] = value
    return values


class SettingsFieldsMixin:
    """Adds a module's declared settings to a form as fields named `<prefix><setting name>` and checks them with
    settings_clean in clean(); `cleaned_settings` holds the typed values afterwards. Call `settings_add` from
    __init__ (after the form's own __init__)."""

    settings_prefix = "setting_"

    def settings_add(self, declared: tuple[Setting, ...], stored: dict[str, Any] | None) -> None:
        self.settings_declared = tuple(declared)
        self.settings_stored = dict(stored or {})
        self.cleaned_settings: dict[str, Any] = {}
        initial = settings_initial(self.settings_declared, self.settings_stored)
        for setting in self.settings_declared:
            name = self.settings_prefix + setting.name
            self.fields[name] = setting_field(setting, stored=self.settings_stored.get(setting.name))
            if setting.name in initial:
                self.initial.setdefault(name, initial[setting.name])

    def settings_field_names(self) -> list[str]:
        return [self.settings_prefix + setting.name for setting in getattr(self, "settings_declared", ())]

    def settings_clean(self) -> None:
        declared = getattr(self, "settings_declared", ())
        if not declared:
            self.cleaned_settings = {}
            return
        given = {setting.name: self.cleaned_data.get(self.settings_prefix + setting.name) for setting in declared}
        try:
            self.cleaned_settings = settings_clean(declared, settings_from_input(declared, given, self.settings_stored))
        except SettingsInvalid as invalid:
            for setting_name, message in invalid.errors.items():
                field = self.settings_prefix + setting_name
                self.add_error(field if field in self.fields else None, message)


class ModuleSettingsForm(SettingsFieldsMixin, forms.Form):
    """A form of one module's declared settings alone (the service's change-package page)."""

    settings_prefix = ""

    def __init__(self, *args, declared: tuple[Setting, ...], stored: dict[str, Any] | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.settings_add(declared, stored)

    def clean(self):
        cleaned = super().clean()
        self.settings_clean()
        return cleaned


def module_choices(current: str = "") -> list[tuple[str, str]]:
    """Blank (no module) and every registered module, for a product's or a server's module select. A stored name
    no installed module has stays selectable, marked, so the row can still be saved without silently losing it."""
    choices = [("", "None"), *registry.choices()]
    if current and registry.module_class(current) is None:
        choices.append((current, f"{current} (not installed)"))
    return choices


def module_chosen(data, stored: str) -> str:
    """The module whose declared fields a form carries: the one submitted if it is registered, else the stored
    one. So choosing another module and saving (or a form error) shows that module's fields, without JavaScript."""
    if data is not None and "module" in data:
        submitted = data.get("module") or ""
        if submitted == "" or registry.module_class(submitted) is not None:
            return submitted
    return stored


def registrar_choices(current: str = "") -> list[tuple[str, str]]:
    """Every installed registrar, for a TLD's registrar select; a stored name no installed registrar has stays
    selectable, marked, as module_choices keeps a module's."""
    choices = list(registrars.choices())
    if current and registrars.registrar_class(current) is None:
        choices.append((current, f"{current} (not installed)"))
    return choices


def registrar_chosen(data, stored: str) -> str:
    """The registrar whose declared settings a configuration form carries: the one submitted if installed, else
    the stored one (module_chosen's rule)."""
    if data is not None and data.get("name") and registrars.registrar_class(data.get("name")) is not None:
        return data.get("name")
    return stored
