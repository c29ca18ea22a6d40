"""TLDs and their price tables: what the database refuses, what tld_save checks and logs, registrar settings kept
with their secrets encrypted and handed to the registrar's check, and the reads that never query per name."""

from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from core import crypto
from notifications.models import ActivityLog
from provisioning.domain_selectors import tld_price_list, tlds_for_names
from provisioning.models import RegistrarConfig, Tld, TldFees, TldPrice
from provisioning.services.domain_availability import AvailabilityState, domain_availability, domains_availability
from provisioning.services.tlds import TldFeesRow, TldPriceRow, registrar_config_save, tld_save
from tests import registrar_package


def _price(tld, currency, **overrides):
    values = {"years": 1, "register_price": Decimal("9.99"), "renew_price": Decimal("10.99"), **overrides}
    return TldPrice(tld=tld, currency=currency, **values)


@pytest.mark.parametrize(
    "bad",
    [
        {"years": 0},
        {"years": 11},
        {"register_price": Decimal("-0.01")},
        {"renew_price": Decimal("-1")},
        {"transfer_price": Decimal("-1")},
    ],
    ids=["0 years", "11 years", "negative register", "negative renew", "negative transfer"],
)
def test_the_database_refuses_a_price_row_out_of_bounds(tld_com, usd, bad):
    TldPrice.objects.filter(tld=tld_com).delete()
    with pytest.raises(IntegrityError), transaction.atomic():
        _price(tld_com, usd, **bad).save()


def test_the_database_refuses_two_prices_for_one_tld_currency_and_years(tld_com, usd):
    with pytest.raises(IntegrityError), transaction.atomic():
        _price(tld_com, usd, years=3).save()  # tld_com has 1-10 years in USD


def test_the_database_refuses_an_extension_with_a_dot_or_capitals_and_negative_fees(tld_com, usd):
    for extension in (".net", "NET"):
        with pytest.raises(IntegrityError), transaction.atomic():
            Tld.objects.create(extension=extension, registrar="manual")
    with pytest.raises(IntegrityError), transaction.atomic():
        TldFees.objects.create(tld=tld_com, currency=usd, grace_fee=Decimal("-5"))


def test_tld_save_normalises_the_extension_and_keeps_prices_for_1_to_10_years_per_currency(usd, eur):
    rows = [
        TldPriceRow(currency_id=currency.pk, years=n, register_price=Decimal(n), renew_price=Decimal(n + 1))
        for currency in (usd, eur)
        for n in range(1, 11)
    ]
    saved = tld_save(
        tld_id=None,
        fields={"extension": ".Рф", "registrar": "scripted_registrar"},
        prices=rows,
        fees=[TldFeesRow(currency_id=usd.pk, grace_fee=Decimal("5.00"))],
        actor=None,
    )
    tld = saved.tld
    assert tld.extension == "xn--p1ai"
    assert sorted(tld.prices.values_list("currency__code", "years"))[::10] == [("EUR", 1), ("USD", 1)]
    assert tld.prices.count() == 20
    assert tld.fees.get().grace_fee == Decimal("5.00") and tld.fees.get().redemption_fee is None
    assert ActivityLog.objects.filter(action="tld_created", subject_id=tld.pk).exists()

    # The table given is the whole table: a price left out goes, one changed is rewritten, the rest stay.
    kept = [row for row in rows if not (row.currency_id == eur.pk and row.years == 10)]
    kept[0] = TldPriceRow(currency_id=usd.pk, years=1, register_price=Decimal("0.50"), renew_price=Decimal("2"))
    again = tld_save(tld_id=tld.pk, fields={}, prices=kept, fees=None, actor=None)
    assert set(again.changed) == {"price EUR 10 years", "price USD 1 year"}
    assert tld.prices.count() == 19
    assert tld.prices.get(currency=usd, years=1).register_price == Decimal("0.50")


@pytest.mark.parametrize(
    ("fields", "rows", "message"),
    [
        ({"extension": "co..uk", "registrar": "manual"}, [], "not a domain extension"),
        ({"extension": "shop", "registrar": "nope"}, [], "No registrar is installed"),
        ({"extension": "shop", "registrar": "manual"}, [{"years": 11}], "1 to 10 years"),
        ({"extension": "shop", "registrar": "manual"}, [{"register_price": Decimal("-1")}], "zero or more"),
        ({"extension": "shop", "registrar": "manual"}, [{"renew_price": Decimal("1.001")}], "register|renew"),
        ({"extension": "shop", "registrar": "manual"}, [{}, {}], "Two prices for USD 1 year"),
    ],
    ids=["bad extension", "unknown registrar", "11 years", "negative", "too precise", "duplicate"],
)
def test_tld_save_refuses_bad_input_and_writes_nothing(usd, fields, rows, message):
    prices = [
        TldPriceRow(
            **{"currency_id": usd.pk, "years": 1, "register_price": Decimal("1"), "renew_price": Decimal("1"), **row}
        )
        for row in rows
    ]
    with pytest.raises(ValidationError, match=message):
        tld_save(tld_id=None, fields=fields, prices=prices, fees=None, actor=None)
    assert not Tld.objects.exists() and not TldPrice.objects.exists() and not ActivityLog.objects.exists()


def test_a_registrars_secret_setting_is_encrypted_kept_when_left_blank_and_given_to_its_check(tld_example):
    saved = registrar_config_save(
        config_id=None,
        name="scripted_registrar",
        settings={"region": "us", "password": "s3cret"},
        is_active=True,
        actor=None,
    )
    config = RegistrarConfig.objects.get(pk=saved.config.pk)
    assert config.settings == {"region": "us"}
    assert "s3cret" not in config.credentials_token and crypto.decrypt_json(config.credentials_token) == {
        "password": "s3cret"
    }
    again = registrar_config_save(
        config_id=config.pk,
        name="scripted_registrar",
        settings={"region": "ap", "password": ""},
        is_active=True,
        actor=None,
    )
    assert again.changed == ("settings",)
    assert domain_availability(name="free.example").state is AvailabilityState.AVAILABLE
    assert registrar_package.SEEN_SETTINGS == [{"region": "ap", "password": "s3cret"}]


def test_a_switched_off_registrar_is_not_asked_and_the_answer_is_unknown(tld_example):
    registrar_config_save(config_id=None, name="scripted_registrar", settings={}, is_active=False, actor=None)
    assert domain_availability(name="taken.example").state is AvailabilityState.UNKNOWN
    assert registrar_package.SEEN_SETTINGS == []


def test_a_registrar_config_for_no_installed_registrar_is_refused(db):
    with pytest.raises(ValidationError, match="No registrar is installed"):
        registrar_config_save(config_id=None, name="ghost", settings={}, is_active=True, actor=None)
    assert not RegistrarConfig.objects.exists()


def test_a_name_under_no_tld_or_at_a_registrar_that_cannot_check_is_unknown(tld_com):
    answers = domains_availability(names=["shop.com", "shop.org"])
    assert {name: answer.state for name, answer in answers.items()} == {
        "shop.com": AvailabilityState.UNKNOWN,
        "shop.org": AvailabilityState.UNKNOWN,
    }


def test_a_registrar_that_raises_something_unexpected_is_a_failed_check_not_an_error_page(tld_example, monkeypatch):
    def broken(self, context):
        raise RuntimeError("bug in the registrar")

    monkeypatch.setattr(registrar_package.ScriptedRegistrar, "check", broken)
    answer = domain_availability(name="shop.example")
    assert (answer.state, answer.error) == (AvailabilityState.FAILED, "RuntimeError: bug in the registrar")


@pytest.mark.parametrize("n", [3, 30])
def test_pricing_and_checking_many_names_takes_the_same_queries(
    tld_example, tld_com, usd, n, django_assert_num_queries
):
    names = [f"shop{i}.example" for i in range(n)] + [f"shop{i}.com" for i in range(n)]
    with django_assert_num_queries(2):  # the TLDs, their prices in the currency
        tlds = tlds_for_names(names=names, currency=usd)
    with django_assert_num_queries(1):  # the registrars' settings
        answers = domains_availability(names=names, tlds=tlds)
    assert {answer.state for answer in answers.values()} == {AvailabilityState.AVAILABLE, AvailabilityState.UNKNOWN}
    with django_assert_num_queries(2):
        assert [tld.extension for tld, _prices in tld_price_list(currency=usd)] == ["com", "example"]
