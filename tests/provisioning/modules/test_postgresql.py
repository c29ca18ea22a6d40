"""The PostgreSQL module against a real server: each action's effect is checked by logging in as the client's role,
not by reading back what the module said."""

import dataclasses
import os
import re
import signal
import time

import psycopg
import pytest
from psycopg import sql

from provisioning.modules.base import (
    AccountDetails,
    Action,
    Done,
    ModuleContext,
    PermanentModuleError,
    ServerInfo,
    ServiceSnapshot,
    TransientModuleError,
)
from provisioning.modules.registry import module_for
from tests.provisioning.modules.servers import (
    CLUSTER_PASSWORD,
    free_port,
    private_cluster,
    superuser_connection,
    unique_name,
    unique_service_id,
)

pytestmark = pytest.mark.postgres

module = module_for("postgresql")


def snapshot(username: str, *, service_id: int | None = None, password: str = "", **account) -> ServiceSnapshot:
    return ServiceSnapshot(
        service_id=service_id or unique_service_id(),
        client_id=1,
        product_name="Managed PostgreSQL",
        username=username,
        password=password,
        account=account,
    )


def call(action: Action, service: ServiceSnapshot, server: ServerInfo, *, limit: int | None = None, **params):
    product = {"connection_limit": limit} if limit is not None else {}
    return module.call(
        ModuleContext(action=action, service=service, server=server, product_settings=product, params=params)
    )


def login(server: ServerInfo, user: str, password: str, database: str) -> psycopg.Connection:
    return psycopg.connect(
        host=server.address,
        port=server.port,
        user=user,
        password=password,
        dbname=database,
        autocommit=True,
        connect_timeout=5,
    )


def created(service: ServiceSnapshot, server: ServerInfo, cleanup: list[str] | None = None, **kwargs):
    if cleanup is not None:
        cleanup.append(service.username)
    details = call(Action.CREATE, service, server, **kwargs)
    assert isinstance(details, AccountDetails)
    return details, dataclasses.replace(service, password=details.password, account=details.extra)


def catalog(server: ServerInfo, query: str, *params):
    with superuser_connection(server) as connection:
        return connection.execute(query, params).fetchall()


def tags_of(server: ServerInfo, name: str) -> tuple[list, list]:
    roles = catalog(server, "SELECT shobj_description(oid, 'pg_authid') FROM pg_roles WHERE rolname = %s", name)
    databases = catalog(
        server, "SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = %s", name
    )
    return roles, databases


# --- create -----------------------------------------------------------------------------------------------------


def test_create_makes_a_role_that_logs_in_to_the_database_it_owns(local_server, cleanup):
    service = snapshot(unique_name())
    details, service = created(service, local_server, cleanup, limit=7)

    assert details.username == service.username
    assert details.extra == {"database": service.username}
    assert (details.host, details.port) == (local_server.hostname, local_server.port)
    assert len(details.password) >= 20 and not details.found_existing
    with login(local_server, details.username, details.password, details.extra["database"]) as client:
        assert client.execute("SELECT current_user, current_database()").fetchone() == (
            service.username,
            service.username,
        )
        client.execute("CREATE TABLE notes (body text)")  # the client owns its database's public schema
    assert tags_of(local_server, service.username) == (
        [(f"portal service {service.service_id}",)],
        [(f"portal service {service.service_id}",)],
    )
    assert catalog(
        local_server,
        "SELECT r.rolconnlimit, d.datconnlimit, pg_get_userbyid(d.datdba) FROM pg_roles r, pg_database d"
        " WHERE r.rolname = %s AND d.datname = %s",
        service.username,
        service.username,
    ) == [(7, 7, service.username)]


def test_the_package_default_limit_and_the_host_for_clients_apply(local_server, cleanup):
    server = dataclasses.replace(local_server, settings={"client_host": "db.example.net"})
    details, service = created(snapshot(unique_name()), server, cleanup)
    assert details.host == "db.example.net"
    assert catalog(local_server, "SELECT rolconnlimit FROM pg_roles WHERE rolname = %s", service.username) == [(10,)]


def test_another_services_role_cannot_connect_to_this_database(local_server, cleanup):
    _, mine = created(snapshot(unique_name()), local_server, cleanup)
    _, theirs = created(snapshot(unique_name()), local_server, cleanup)

    with pytest.raises(psycopg.OperationalError, match="permission denied for database"):
        login(local_server, theirs.username, theirs.password, mine.username)
    login(local_server, theirs.username, theirs.password, theirs.username).close()


def test_a_repeated_create_finds_its_account_and_leaves_one_role_and_one_database(local_server, cleanup):
    first, service = created(snapshot(unique_name()), local_server, cleanup)
    again = call(Action.CREATE, dataclasses.replace(service, password=""), local_server)

    assert again.found_existing and again.username == first.username
    assert again.message.endswith(f"its database {service.username} was there.")
    assert again.password and again.password != first.password  # the one it set is the one it returns
    login(local_server, again.username, again.password, again.extra["database"]).close()
    tag = f"portal service {service.service_id}"
    assert catalog(
        local_server, "SELECT count(*) FROM pg_roles WHERE shobj_description(oid, 'pg_authid') = %s", tag
    ) == [(1,)]
    assert catalog(
        local_server, "SELECT count(*) FROM pg_database WHERE shobj_description(oid, 'pg_database') = %s", tag
    ) == [(1,)]


def test_a_create_after_a_worker_died_with_only_the_role_made_makes_the_database(local_server, cleanup):
    """What the role's transaction leaves when the worker is killed before CREATE DATABASE: a tagged role."""
    service = snapshot(unique_name())
    cleanup.append(service.username)
    name = sql.Identifier(service.username)
    with superuser_connection(local_server) as connection:
        connection.execute(sql.SQL("CREATE ROLE {} LOGIN").format(name))
        connection.execute(
            sql.SQL("COMMENT ON ROLE {} IS {}").format(name, sql.Literal(f"portal service {service.service_id}"))
        )

    details = call(Action.CREATE, service, local_server)

    assert details.found_existing and details.message.endswith(f"created its database {service.username}.")
    login(local_server, details.username, details.password, details.extra["database"]).close()
    assert catalog(local_server, "SELECT count(*) FROM pg_roles WHERE rolname = %s", service.username) == [(1,)]


def test_a_create_killed_before_tagging_the_database_adopts_the_database_its_role_owns(local_server, cleanup):
    _, service = created(snapshot(unique_name()), local_server, cleanup)
    with superuser_connection(local_server) as connection:
        connection.execute(sql.SQL("COMMENT ON DATABASE {} IS NULL").format(sql.Identifier(service.username)))

    again = call(Action.CREATE, service, local_server)

    assert again.found_existing and again.password == service.password  # the snapshot's password is kept
    assert tags_of(local_server, service.username)[1] == [(f"portal service {service.service_id}",)]


@pytest.mark.parametrize("tag", [None, "portal service 1"], ids=["untagged", "another-service"])
def test_a_name_that_belongs_to_someone_else_is_permanent_and_left_alone(local_server, cleanup, tag):
    service = snapshot(unique_name())
    cleanup.append(service.username)
    name = sql.Identifier(service.username)
    with superuser_connection(local_server) as connection:
        connection.execute(sql.SQL("CREATE ROLE {} NOLOGIN").format(name))
        if tag:
            connection.execute(sql.SQL("COMMENT ON ROLE {} IS {}").format(name, sql.Literal(tag)))

    with pytest.raises(PermanentModuleError, match="is taken"):
        call(Action.CREATE, service, local_server)
    for action in (Action.SUSPEND, Action.UNSUSPEND, Action.TERMINATE, Action.CHANGE_PASSWORD):
        with pytest.raises(PermanentModuleError, match="not this service's"):
            call(action, service, local_server, password="new-password")

    assert catalog(
        local_server,
        "SELECT rolcanlogin, shobj_description(oid, 'pg_authid') FROM pg_roles WHERE rolname = %s",
        service.username,
    ) == [(False, tag)]
    assert tags_of(local_server, service.username)[1] == []  # no database was made for it


def test_a_taken_database_name_is_permanent_and_makes_no_role(local_server, cleanup):
    service = snapshot(unique_name(), database=unique_name("d"))
    cleanup.extend([service.username, service.account["database"]])
    with superuser_connection(local_server) as connection:
        connection.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(service.account["database"])))

    with pytest.raises(PermanentModuleError, match=f"database name {service.account['database']} is taken"):
        call(Action.CREATE, service, local_server)
    assert tags_of(local_server, service.username)[0] == []


# --- suspend, unsuspend, change package, usage, terminate ---------------------------------------------------------


def test_suspend_refuses_the_login_and_ends_open_sessions_and_unsuspend_restores_it(local_server, cleanup):
    details, service = created(snapshot(unique_name()), local_server, cleanup)
    session = login(local_server, details.username, details.password, service.username)

    done = call(Action.SUSPEND, service, local_server, reason="overdue")

    assert isinstance(done, Done) and not done.already and "ended 1 open session" in done.message
    with pytest.raises(psycopg.OperationalError):
        session.execute("SELECT 1")
    with pytest.raises(psycopg.OperationalError, match="not permitted to log in"):
        login(local_server, details.username, details.password, service.username)
    assert call(Action.SUSPEND, service, local_server, reason="overdue").already

    assert not call(Action.UNSUSPEND, service, local_server).already
    login(local_server, details.username, details.password, service.username).close()
    assert call(Action.UNSUSPEND, service, local_server).already


def test_change_package_changes_the_limit_the_server_enforces(local_server, cleanup):
    details, service = created(snapshot(unique_name()), local_server, cleanup)

    done = call(Action.CHANGE_PACKAGE, service, local_server, settings={"connection_limit": 1})

    assert isinstance(done, Done) and "at most 1 connections" in done.message
    with (
        login(local_server, details.username, details.password, service.username),
        pytest.raises(psycopg.OperationalError, match="too many connections"),
    ):
        login(local_server, details.username, details.password, service.username)
    assert catalog(
        local_server,
        "SELECT r.rolconnlimit, d.datconnlimit FROM pg_roles r, pg_database d WHERE r.rolname = %s AND d.datname = %s",
        service.username,
        service.username,
    ) == [(1, 1)]


@pytest.mark.parametrize("limit", [0, 501, "many", -3])
def test_a_package_limit_out_of_range_is_permanent_and_changes_nothing(local_server, cleanup, limit):
    _, service = created(snapshot(unique_name()), local_server, cleanup)

    with pytest.raises(PermanentModuleError, match="connection_limit"):
        call(Action.CHANGE_PACKAGE, service, local_server, settings={"connection_limit": limit})
    with pytest.raises(PermanentModuleError, match="connection_limit"):
        call(Action.CREATE, snapshot(unique_name()), local_server, limit=limit)
    assert catalog(local_server, "SELECT rolconnlimit FROM pg_roles WHERE rolname = %s", service.username) == [(10,)]


def test_usage_reports_the_database_size_and_the_connection_limit(local_server, cleanup):
    details, service = created(snapshot(unique_name()), local_server, cleanup, limit=4)
    before = call(Action.USAGE, service, local_server)
    with login(local_server, details.username, details.password, service.username) as client:
        client.execute("CREATE TABLE filler AS SELECT repeat('x', 1000) AS body FROM generate_series(1, 5000)")

    after = call(Action.USAGE, service, local_server)

    assert before.limits == after.limits == {"connections": 4}
    size = catalog(local_server, "SELECT pg_database_size(%s)", service.username)[0][0]
    assert after.figures == {"disk_bytes": size}
    assert after.figures["disk_bytes"] > before.figures["disk_bytes"] + 4_000_000


def test_terminate_ends_sessions_and_drops_the_database_and_the_role(local_server, cleanup):
    details, service = created(snapshot(unique_name()), local_server, cleanup)
    session = login(local_server, details.username, details.password, service.username)

    done = call(Action.TERMINATE, service, local_server)

    assert isinstance(done, Done) and not done.already
    assert done.message == f"Dropped database {service.username} and role {service.username}."
    with pytest.raises(psycopg.OperationalError):
        session.execute("SELECT 1")
    assert tags_of(local_server, service.username) == ([], [])
    assert call(Action.TERMINATE, service, local_server).already


def test_terminate_after_the_role_went_drops_the_database_left_behind(local_server, cleanup):
    _, service = created(snapshot(unique_name()), local_server, cleanup)
    with superuser_connection(local_server) as connection:
        name = sql.Identifier(service.username)
        connection.execute(sql.SQL("ALTER DATABASE {} OWNER TO CURRENT_USER").format(name))
        connection.execute(sql.SQL("DROP ROLE {}").format(name))

    assert call(Action.TERMINATE, service, local_server).message == f"Dropped database {service.username}."
    assert tags_of(local_server, service.username) == ([], [])


def test_list_accounts_finds_the_roles_tagged_with_a_service(local_server, cleanup):
    _, first = created(snapshot(unique_name()), local_server, cleanup)
    _, second = created(snapshot(unique_name()), local_server, cleanup)
    untagged = unique_name()
    cleanup.append(untagged)
    with superuser_connection(local_server) as connection:
        connection.execute(sql.SQL("CREATE ROLE {}").format(sql.Identifier(untagged)))

    found = {
        account.username: account.service_id for account in call(Action.LIST_ACCOUNTS, first, local_server).accounts
    }

    assert found[first.username] == first.service_id and found[second.username] == second.service_id
    assert untagged not in found


# --- the server's login role ------------------------------------------------------------------------------------


def test_test_connection_reports_the_version(local_server):
    ok = module.call(ModuleContext(action=Action.TEST_CONNECTION, service=None, server=local_server))
    version = catalog(local_server, "SHOW server_version")[0][0]
    assert f"PostgreSQL {version} at {local_server.address}:{local_server.port}" in ok.message


def test_a_login_role_with_createrole_and_createdb_runs_every_action(local_server, cleanup):
    admin = unique_name("a")
    cleanup.append(admin)
    with superuser_connection(local_server) as connection:
        connection.execute(sql.SQL("CREATE ROLE {} LOGIN CREATEROLE CREATEDB").format(sql.Identifier(admin)))
    server = dataclasses.replace(local_server, username=admin)
    assert (
        "(CREATEROLE, CREATEDB)"
        in module.call(ModuleContext(action=Action.TEST_CONNECTION, service=None, server=server)).message
    )

    details, service = created(snapshot(unique_name()), server, cleanup)
    session = login(server, details.username, details.password, service.username)
    assert "ended 1 open session" in call(Action.SUSPEND, service, server, reason="abuse").message
    call(Action.UNSUSPEND, service, server)
    call(Action.CHANGE_PACKAGE, service, server, settings={"connection_limit": 2})
    call(Action.CHANGE_PASSWORD, service, server, password="Another-one-1")
    assert call(Action.USAGE, service, server).limits == {"connections": 2}
    call(Action.TERMINATE, service, server)
    with pytest.raises(psycopg.OperationalError):
        session.execute("SELECT 1")
    assert tags_of(local_server, service.username) == ([], [])


def test_a_login_role_without_the_privileges_is_told_what_it_lacks(local_server, cleanup):
    weak = unique_name("w")
    cleanup.append(weak)
    with superuser_connection(local_server) as connection:
        connection.execute(sql.SQL("CREATE ROLE {} LOGIN CREATEROLE").format(sql.Identifier(weak)))
    server = dataclasses.replace(local_server, username=weak)

    with pytest.raises(PermanentModuleError, match=f"the role {weak} lacks CREATEDB"):
        module.call(ModuleContext(action=Action.TEST_CONNECTION, service=None, server=server))
    service = snapshot(unique_name())
    cleanup.append(service.username)
    with pytest.raises(PermanentModuleError, match=f"the role {weak} may not do this"):
        call(Action.CREATE, service, server)


def test_a_closed_port_is_transient_and_names_the_address(local_server):
    port = free_port()
    server = dataclasses.replace(local_server, port=port, credentials={"password": "never-shown-secret"})

    with pytest.raises(TransientModuleError) as refused:
        call(Action.CREATE, snapshot(unique_name()), server)

    assert f"127.0.0.1:{port}" in refused.value.message and "never-shown-secret" not in refused.value.message


# --- names and passwords ----------------------------------------------------------------------------------------

HOSTILE_NAMES = ['a"; DROP ROLE postgres; --', "../x", "$(id)", "x y", "Admin", "pg_monitor", "public", "a" * 33]


@pytest.mark.parametrize("name", HOSTILE_NAMES)
def test_a_name_with_metacharacters_is_refused_before_any_sql(local_server, name):
    # A closed port: had the module connected or sent anything, the error would be transient, not the name's.
    server = dataclasses.replace(local_server, port=free_port())
    for action in (Action.CREATE, Action.SUSPEND, Action.TERMINATE, Action.USAGE, Action.CHANGE_PASSWORD):
        with pytest.raises(
            PermanentModuleError, match=re.escape(f"The username {name!r} is not allowed here")
        ) as refused:
            call(action, snapshot(name), server, password="x")
        assert not isinstance(refused.value, TransientModuleError)
    with pytest.raises(PermanentModuleError, match=re.escape(f"The database name {name!r} is not allowed here")):
        call(Action.CREATE, snapshot("fine_name", database=name), server)


def test_a_password_with_quotes_and_backslashes_is_set_as_a_literal(password_server):
    password = 'it\'s a "quote" \\ back\\slash $(id); DROP ROLE postgres; --'
    details, service = created(snapshot(unique_name(), password=password), password_server)

    assert details.password == password
    login(password_server, details.username, password, service.username).close()
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        login(password_server, details.username, "it's a", service.username)
    assert catalog(password_server, "SELECT count(*) FROM pg_roles WHERE rolname = 'postgres'") == [(1,)]
    call(Action.TERMINATE, service, password_server)


def test_the_generated_password_logs_in_and_change_password_replaces_it(password_server):
    details, service = created(snapshot(unique_name()), password_server)
    login(password_server, details.username, details.password, service.username).close()

    call(Action.CHANGE_PASSWORD, service, password_server, password="n3w'pass\\word")

    login(password_server, details.username, "n3w'pass\\word", service.username).close()
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        login(password_server, details.username, details.password, service.username)
    with pytest.raises(PermanentModuleError, match="No new password"):
        call(Action.CHANGE_PASSWORD, service, password_server, password="")
    call(Action.TERMINATE, service, password_server)


def test_wrong_server_credentials_are_permanent_and_name_the_user_not_the_password(password_server):
    server = dataclasses.replace(password_server, credentials={"password": "wrong-" + CLUSTER_PASSWORD})

    for action, service in ((Action.CREATE, snapshot(unique_name())), (Action.TEST_CONNECTION, None)):
        with pytest.raises(PermanentModuleError) as refused:
            module.call(ModuleContext(action=action, service=service, server=server))
        assert "the server refused the credentials of postgres" in refused.value.message
        assert CLUSTER_PASSWORD not in refused.value.message


def test_a_statement_held_up_by_a_lock_gives_up_in_time_and_is_transient(password_server, settings):
    settings.PORTAL_MODULE_TIMEOUT_SECONDS = 2
    _, service = created(snapshot(unique_name()), password_server)
    with superuser_connection(password_server) as holder, holder.transaction():
        holder.execute("SELECT 1 FROM pg_authid WHERE rolname = %s FOR UPDATE", (service.username,))
        with pytest.raises(TransientModuleError, match="did not finish in time"):
            call(Action.CHANGE_PACKAGE, service, password_server, settings={"connection_limit": 3})
    call(Action.TERMINATE, service, password_server)


def test_a_server_shutting_down_is_transient():
    with private_cluster() as server:
        waiting = superuser_connection(server)  # a smart shutdown waits for this session and refuses new ones
        postmaster = int(waiting.execute("SELECT pg_read_file('postmaster.pid')").fetchone()[0].split()[0])
        os.kill(postmaster, signal.SIGTERM)
        deadline = time.monotonic() + 10
        with pytest.raises(TransientModuleError, match=f"127.0.0.1:{server.port}: the database system is shutting"):
            while time.monotonic() < deadline:  # until the postmaster has taken the signal
                module.call(ModuleContext(action=Action.TEST_CONNECTION, service=None, server=server))
                time.sleep(0.05)
        waiting.close()
