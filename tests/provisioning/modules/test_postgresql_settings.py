"""The PostgreSQL module's declarations, without a server: what the admin's forms are built and validated from."""

import pytest

from provisioning.modules.base import Action, PermanentModuleError, SettingsInvalid, SettingType, settings_clean
from provisioning.modules.registry import module_for

module = module_for("postgresql")


def test_the_module_is_registered_with_its_port_and_optional_actions():
    assert module.name == "postgresql" and module.default_port == 5432
    assert module.optional_actions == {Action.USAGE, Action.LIST_ACCOUNTS}
    assert not module.supports(Action.SSO_LINK)


def test_server_settings_default_to_the_postgres_database_and_the_servers_own_host():
    assert settings_clean(module.server_settings, {}) == {
        "maintenance_database": "postgres",
        "client_host": "",
        "sslmode": "prefer",
    }
    assert settings_clean(module.server_settings, {"sslmode": "verify-full", "client_host": " db.example.net "}) == {
        "maintenance_database": "postgres",
        "client_host": "db.example.net",
        "sslmode": "verify-full",
    }
    with pytest.raises(SettingsInvalid) as invalid:
        settings_clean(module.server_settings, {"sslmode": "sometimes"})
    assert set(invalid.value.errors) == {"sslmode"}


def test_the_password_is_the_one_secret_credential_and_may_stay_empty():
    (password,) = module.credential_fields
    assert (password.name, password.type, password.required) == ("password", SettingType.SECRET, False)


@pytest.mark.parametrize(("raw", "expected"), [(None, 10), ("", 10), ("1", 1), (500, 500), (" 25 ", 25)])
def test_the_connection_limit_is_a_whole_number_from_1_to_500(raw, expected):
    assert settings_clean(module.product_settings, {"connection_limit": raw}) == {"connection_limit": expected}


@pytest.mark.parametrize("raw", [0, -1, 501, "ten", True, 2.5])
def test_a_connection_limit_out_of_range_is_refused(raw):
    with pytest.raises(SettingsInvalid) as invalid:
        settings_clean(module.product_settings, {"connection_limit": raw})
    assert set(invalid.value.errors) == {"connection_limit"}


@pytest.mark.parametrize("name", ["a", "shop_db2", "x" * 32, "postgres", "svc42"])
def test_names_postgresql_takes_unquoted_are_allowed(name):
    assert module.check_name(name) == name


@pytest.mark.parametrize(
    "name", ['a"; DROP ROLE postgres; --', "../x", "$(id)", "x y", "Shop", "1db", "_x", "pg_x", "public", "x" * 33]
)
def test_other_names_are_refused_with_the_rule(name):
    with pytest.raises(PermanentModuleError, match="1 to 32 characters: a lowercase letter"):
        module.check_name(name)
