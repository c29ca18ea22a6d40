"""The TLD admin: its registrar is a select of the installed registrars, its prices are edited inline, and saving
goes through tld_save (validated, logged). The registrar configuration admin keeps secrets out of the page."""

from decimal import Decimal

from django.urls import reverse

from notifications.models import ActivityLog
from provisioning.models import RegistrarConfig, Tld
from provisioning.registrars import registry


def _inline(prefix: str, rows: list[dict], initial: int = 0) -> dict:
    data = {
        f"{prefix}-TOTAL_FORMS": str(len(rows)),
        f"{prefix}-INITIAL_FORMS": str(initial),
        f"{prefix}-MIN_NUM_FORMS": "0",
        f"{prefix}-MAX_NUM_FORMS": "1000",
    }
    for index, row in enumerate(rows):
        data.update({f"{prefix}-{index}-{name}": value for name, value in row.items()})
    return data


def test_the_tld_add_page_offers_the_installed_registrars_only(admin_client):
    page = admin_client.get(reverse("admin:provisioning_tld_add"))
    assert page.status_code == 200
    offered = [value for value, _label in page.context["adminform"].form.fields["registrar"].choices]
    assert offered == [name for name, _label in registry.choices()]
    assert "scripted_registrar" in offered and "manual" in offered


def test_adding_a_tld_with_its_prices_saves_through_the_service(admin_client, usd):
    response = admin_client.post(
        reverse("admin:provisioning_tld_add"),
        {
            "extension": ".Shop",
            "registrar": "scripted_registrar",
            "register_when": Tld.RegisterWhen.ON_PAYMENT,
            "auto_renew_default": "on",
            "is_active": "on",
            "grace_period_days": "30",
            "redemption_period_days": "40",
            **_inline(
                "prices",
                [
                    {
                        "currency": usd.pk,
                        "years": 1,
                        "register_price": "9.99",
                        "transfer_price": "",
                        "renew_price": "11",
                    },
                    {
                        "currency": usd.pk,
                        "years": 5,
                        "register_price": "45",
                        "transfer_price": "40",
                        "renew_price": "50",
                    },
                ],
            ),
            **_inline("fees", [{"currency": usd.pk, "grace_fee": "", "redemption_fee": "80"}]),
        },
    )
    assert response.status_code == 302, response.context["adminform"].form.errors if response.context else response
    tld = Tld.objects.get()
    assert (tld.extension, tld.registrar, tld.register_when, tld.epp_code_required, tld.redemption_period_days) == (
        "shop",
        "scripted_registrar",
        "payment",
        False,
        40,
    )
    assert sorted(tld.prices.values_list("years", "register_price", "transfer_price")) == [
        (1, Decimal("9.99"), None),
        (5, Decimal("45.00"), Decimal("40.00")),
    ]
    assert tld.fees.get().redemption_fee == Decimal("80.00")
    assert ActivityLog.objects.get(action="tld_created").subject_id == tld.pk

    change = admin_client.get(reverse("admin:provisioning_tld_change", args=[tld.pk]))
    assert change.status_code == 200 and "45.00" in change.content.decode()


def test_a_registrar_not_installed_is_refused_by_the_form_and_nothing_is_saved(admin_client, usd):
    response = admin_client.post(
        reverse("admin:provisioning_tld_add"),
        {
            "extension": "shop",
            "registrar": "nope",
            "register_when": "accept",
            **_inline("prices", []),
            **_inline("fees", []),
        },
    )
    assert response.status_code == 200
    assert "registrar" in response.context["adminform"].form.errors
    assert not Tld.objects.exists()


def test_a_duplicate_price_row_is_refused_and_nothing_is_saved(admin_client, usd):
    row = {"currency": usd.pk, "years": 2, "register_price": "1", "transfer_price": "", "renew_price": "1"}
    response = admin_client.post(
        reverse("admin:provisioning_tld_add"),
        {
            "extension": "shop",
            "registrar": "manual",
            "register_when": "accept",
            **_inline("prices", [row, row]),
            **_inline("fees", []),
        },
    )
    assert response.status_code == 200
    assert not Tld.objects.exists()


def test_the_registrar_configuration_page_never_shows_a_stored_secret(admin_client, tld_example):
    response = admin_client.post(
        reverse("admin:provisioning_registrarconfig_add"),
        {"name": "scripted_registrar", "is_active": "on", "setting_region": "us", "setting_password": "s3cret-pw"},
    )
    assert response.status_code == 302
    config = RegistrarConfig.objects.get()
    assert config.settings == {"region": "us"}
    page = admin_client.get(reverse("admin:provisioning_registrarconfig_change", args=[config.pk])).content.decode()
    assert "s3cret-pw" not in page and 'name="setting_password"' in page
    assert ActivityLog.objects.filter(action="registrar_config_created").exists()
