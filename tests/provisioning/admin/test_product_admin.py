"""The product's module is chosen from the registry and its settings are the module's declared fields, checked by
settings_clean: a value out of range is a form error and saves nothing; changing the module shows its fields."""

import pytest
from django.urls import reverse

from orders.models import Product
from provisioning.module_forms import ModuleSettingsForm
from provisioning.modules.base import Setting, SettingType
from tests.factories import ProductFactory

pytestmark = pytest.mark.django_db


def _post(product: Product, **changes) -> dict:
    data = {
        "group": str(product.group_id),
        "name": product.name,
        "description": "",
        "type": product.type,
        "module": product.module,
        "server_group": "",
        "auto_setup": product.auto_setup,
        "stock_quantity": "0",
        "sort_order": "0",
        "welcome_email_template": "",
        "taxable": "on",
        "pricing-TOTAL_FORMS": "0",
        "pricing-INITIAL_FORMS": "0",
        "pricing-MIN_NUM_FORMS": "0",
        "pricing-MAX_NUM_FORMS": "1000",
    }
    return {**data, **changes}


def test_the_module_is_a_select_of_the_registry_and_its_settings_are_its_declared_fields(admin_client):
    product = ProductFactory(module="scripted", module_settings={"fail": "", "fail_times": 3, "sleep": 0})
    page = admin_client.get(reverse("admin:orders_product_change", args=[product.pk])).content.decode()
    assert '<select name="module"' in page
    assert '<option value="scripted" selected>Scripted (tests)</option>' in page
    assert '<option value="manual">' in page
    assert 'name="module_setting_fail_times"' in page and 'value="3"' in page
    assert 'name="module_settings"' not in page  # no raw JSON box


def test_a_setting_out_of_range_is_a_form_error_and_nothing_is_saved(admin_client):
    product = ProductFactory(module="scripted", module_settings={"fail": "", "fail_times": 3, "sleep": 0})
    url = reverse("admin:orders_product_change", args=[product.pk])
    response = admin_client.post(url, _post(product, name="Renamed", module_setting_fail_times="101"))
    assert response.status_code == 200
    assert "Must be at most 100." in response.content.decode()
    product.refresh_from_db()
    assert product.module_settings["fail_times"] == 3 and product.name != "Renamed"

    response = admin_client.post(url, _post(product, module_setting_fail="sideways"))
    assert "Select a valid choice" in response.content.decode()
    product.refresh_from_db()
    assert product.module_settings["fail"] == ""


def test_valid_settings_are_saved_typed(admin_client):
    product = ProductFactory(module="scripted", module_settings={})
    url = reverse("admin:orders_product_change", args=[product.pk])
    response = admin_client.post(
        url, _post(product, module_setting_fail="transient", module_setting_fail_times="2", module_setting_sleep="")
    )
    assert response.status_code == 302, response.content.decode()[:3000]
    product.refresh_from_db()
    assert product.module_settings == {"fail": "transient", "fail_times": 2, "sleep": 0, "return_username": ""}


def test_choosing_another_module_saves_its_defaults_and_then_shows_its_fields(admin_client):
    product = ProductFactory(module="", module_settings={})
    url = reverse("admin:orders_product_change", args=[product.pk])
    assert 'name="module_setting_fail"' not in admin_client.get(url).content.decode()
    assert admin_client.post(url, _post(product, module="scripted")).status_code == 302
    product.refresh_from_db()
    assert product.module == "scripted"
    assert product.module_settings == {"fail": "", "fail_times": 0, "sleep": 0, "return_username": ""}
    assert 'name="module_setting_fail_times"' in admin_client.get(url).content.decode()
    # Back to no module: no settings are kept.
    assert admin_client.post(url, _post(product, module="")).status_code == 302
    product.refresh_from_db()
    assert (product.module, product.module_settings) == ("", {})


def test_a_module_name_not_in_the_registry_is_refused(admin_client):
    product = ProductFactory(module="", module_settings={})
    url = reverse("admin:orders_product_change", args=[product.pk])
    response = admin_client.post(url, _post(product, module="rm -rf"))
    assert response.status_code == 200 and "Select a valid choice" in response.content.decode()
    product.refresh_from_db()
    assert product.module == ""


def test_the_form_of_declared_settings_types_each_kind_and_keeps_a_blank_secret():
    declared = (
        Setting("limit", "Limit", SettingType.INTEGER, default=5, min_value=1, max_value=10),
        Setting("on", "On", SettingType.BOOLEAN, default=False),
        Setting("token", "Token", SettingType.SECRET, required=True),
        Setting("records", "Records", SettingType.LINES),
    )
    form = ModuleSettingsForm(
        {"limit": "7", "on": "on", "token": "", "records": "a\n\n b "},
        declared=declared,
        stored={"token": "kept-secret"},
    )
    assert form.is_valid(), form.errors
    assert form.cleaned_settings == {"limit": 7, "on": True, "token": "kept-secret", "records": "a\nb"}
    assert "kept-secret" not in str(form["token"])  # the stored secret is never rendered
    assert 'type="password"' in str(form["token"])
    assert "<textarea" in str(form["records"])
    refused = ModuleSettingsForm({"limit": "0", "token": ""}, declared=declared, stored={})
    assert not refused.is_valid()
    assert refused.errors["limit"] == ["Must be at least 1."]
    assert refused.errors["token"] == ["This setting is required."]
