"""PostgreSQL database hosting: each service is a login role with a generated password and a database it owns,
both limited to the package's number of connections and tagged `portal service <id>` (COMMENT ON), so a repeated
call finds what an earlier one made and a name that belongs to someone else is never touched.

The server's login role needs CREATEROLE and CREATEDB (or is a superuser). Every name reaches the server as a
quoted identifier (psycopg.sql.Identifier) after `check_name`; values in queries are server-side parameters.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import psycopg
from django.conf import settings
from psycopg import errors, sql

from provisioning.modules.base import (
    AccountDetails,
    AccountList,
    Action,
    ConnectionOk,
    Done,
    Module,
    ModuleContext,
    PermanentModuleError,
    RemoteAccount,
    ServerInfo,
    ServiceSnapshot,
    Setting,
    SettingsInvalid,
    SettingType,
    TransientModuleError,
    Usage,
    redact,
    settings_clean,
)
from provisioning.modules.registry import register

TAG = "portal service {}"
TAG_PATTERN = r"^portal service [0-9]+$"
SSL_MODES = ("disable", "allow", "prefer", "require", "verify-ca", "verify-full")
MAX_CONNECTION_LIMIT = 500

# libpq's words for a connection that may work on the next try, and for one that will not until an admin acts.
_TRANSIENT_CONNECT = (
    "connection refused",
    "timeout expired",
    "timed out",
    "shutting down",
    "starting up",
    "recovery mode",
    "too many connections",
    "remaining connection slots",
    "server closed the connection",
    "no route to host",
    "network is unreachable",
    "could not translate host name",
    "temporary failure in name resolution",
)
_REFUSED_CREDENTIALS = ("password authentication failed", "no password supplied", "authentication failed")


@dataclass(frozen=True)
class _Found:
    """A role or database on the server: whose tag it carries (None: no tag) and, for a database, its owner."""

    tag: str | None
    owner: str = ""
    can_login: bool = False
    connection_limit: int = -1


def _tag(service: ServiceSnapshot) -> str:
    return TAG.format(service.service_id)


@register
class PostgreSQLModule(Module):
    name = "postgresql"
    label = "PostgreSQL database hosting"
    default_port = 5432
    optional_actions = frozenset({Action.USAGE, Action.LIST_ACCOUNTS})
    # PostgreSQL's own limit is 63 bytes; 32 keeps names readable, and lowercase-only means the quoted identifier
    # is the name a client types unquoted. "pg_" and the role names PostgreSQL reserves are refused here rather
    # than by the server halfway through a create.
    username_rule = re.compile(r"^(?!pg_)(?!(?:public|none)$)[a-z][a-z0-9_]{0,31}$")
    username_rule_text = (
        "1 to 32 characters: a lowercase letter, then lowercase letters, digits or underscores "
        '(not starting with "pg_", not "public" or "none")'
    )
    server_settings = (
        Setting(
            "maintenance_database",
            "Maintenance database",
            default="postgres",
            help="The database the portal connects to on this server to create roles and databases.",
            max_length=63,
        ),
        Setting(
            "client_host",
            "Host for clients",
            help="The host name clients connect to, when it differs from the server's host name (e.g. a public "
            "name for a server the portal reaches on a private address). Empty: the server's host name.",
        ),
        Setting(
            "sslmode",
            "SSL mode",
            type=SettingType.CHOICE,
            default="prefer",
            choices=tuple((mode, mode) for mode in SSL_MODES),
            help="How the portal's own connection uses TLS (libpq's sslmode).",
        ),
    )
    credential_fields = (
        Setting(
            "password",
            "Password",
            type=SettingType.SECRET,
            help="The password of the server's login role (it needs CREATEROLE and CREATEDB). Leave empty when "
            "the server trusts the portal's address.",
        ),
    )
    product_settings = (
        Setting(
            "connection_limit",
            "Connection limit",
            type=SettingType.INTEGER,
            default=10,
            min_value=1,
            max_value=MAX_CONNECTION_LIMIT,
            help="How many connections the client's role may hold at once, and its database accepts.",
        ),
    )

    # --- Actions ----------------------------------------------------------------------------------------------

    def create(self, context: ModuleContext) -> AccountDetails:
        service = self._service(context)
        username = self.check_name(service.username or self.suggest_username(service))
        database = self.check_name(service.account.get("database") or username, what="database name")
        limit = self._connection_limit(context.product_settings)
        password = service.password or secrets.token_urlsafe(18)
        with self._connect(context) as connection:
            try:
                found_existing, made_database = self._create(connection, service, username, database, limit, password)
            except (errors.DuplicateObject, errors.DuplicateDatabase):
                # Another call made the same name between our look-up and our CREATE: look again; if it was a
                # repeat of this create, the second pass finds its tags.
                found_existing, made_database = self._create(connection, service, username, database, limit, password)
        server = self._server(context)
        return AccountDetails(
            username=username,
            password=password,
            host=self._server_settings(server)["client_host"] or server.hostname,
            port=server.port or self.default_port,
            extra={"database": database},
            message=(
                f"Found role {username} made by an earlier attempt and set its password and limit; "
                + (f"created its database {database}." if made_database else f"its database {database} was there.")
                if found_existing
                else f"Created role {username} and its database {database} (at most {limit} connections)."
            ),
            found_existing=found_existing,
        )

    def suspend(self, context: ModuleContext) -> Done:
        service = self._service(context)
        username = self.check_name(service.username)
        reason = str(context.params.get("reason") or "no reason given")
        with self._connect(context) as connection:
            role = self._own_role(connection, service, username)
            if role.can_login:
                connection.execute(sql.SQL("ALTER ROLE {} NOLOGIN").format(sql.Identifier(username)))
            ended = self._end_sessions(connection, username)
        return Done(
            f"Role {username} may no longer log in ({reason}); ended {ended} open session(s).",
            already=not role.can_login,
        )

    def unsuspend(self, context: ModuleContext) -> Done:
        service = self._service(context)
        username = self.check_name(service.username)
        with self._connect(context) as connection:
            role = self._own_role(connection, service, username)
            if not role.can_login:
                connection.execute(sql.SQL("ALTER ROLE {} LOGIN").format(sql.Identifier(username)))
        return Done(f"Role {username} may log in again.", already=role.can_login)

    def terminate(self, context: ModuleContext) -> Done:
        service = self._service(context)
        username = self.check_name(service.username)
        database = self.check_name(service.account.get("database") or username, what="database name")
        with self._connect(context) as connection:
            role = self._role(connection, username)
            if role is not None and role.tag != _tag(service):
                raise self._not_ours("role", username, role.tag)
            found_database = self._database(connection, database)
            if found_database is not None and not self._database_is_ours(found_database, service, username, role):
                raise self._not_ours("database", database, found_database.tag)
            if role is not None:
                self._join_role(connection, username)  # a non-superuser login may drop only what it is a member of
            if found_database is not None:
                self._drop_database(connection, database)
            if role is not None:
                self._end_sessions(connection, username)
                connection.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(username)))
        if role is None and found_database is None:
            return Done(f"Role {username} and database {database} were already gone.", already=True)
        dropped = [f"database {database}" if found_database else "", f"role {username}" if role else ""]
        return Done(f"Dropped {' and '.join(what for what in dropped if what)}.")

    def change_package(self, context: ModuleContext) -> Done:
        service = self._service(context)
        username = self.check_name(service.username)
        database = self.check_name(service.account.get("database") or username, what="database name")
        limit = self._connection_limit(context.params.get("settings") or {})
        with self._connect(context) as connection:
            role = self._own_role(connection, service, username)
            found_database = self._own_database(connection, service, database, username)
            connection.execute(
                sql.SQL("ALTER ROLE {} CONNECTION LIMIT {}").format(sql.Identifier(username), sql.Literal(limit))
            )
            connection.execute(
                sql.SQL("ALTER DATABASE {} CONNECTION LIMIT {}").format(sql.Identifier(database), sql.Literal(limit))
            )
        return Done(
            f"Role {username} and database {database} now take at most {limit} connections.",
            already=role.connection_limit == found_database.connection_limit == limit,
        )

    def change_password(self, context: ModuleContext) -> Done:
        service = self._service(context)
        username = self.check_name(service.username)
        password = context.params.get("password")
        if not isinstance(password, str) or not password:
            raise PermanentModuleError("No new password was given.")
        with self._connect(context) as connection:
            self._own_role(connection, service, username)
            self._set_password(connection, username, password)
        return Done(f"Set a new password for role {username}.")

    def usage(self, context: ModuleContext) -> Usage:
        service = self._service(context)
        username = self.check_name(service.username)
        database = self.check_name(service.account.get("database") or username, what="database name")
        with self._connect(context) as connection:
            self._own_database(connection, service, database, username)
            size = connection.execute("SELECT pg_database_size(%s)", (database,)).fetchone()[0]
            role = self._own_role(connection, service, username)
        limits = {"connections": role.connection_limit} if role.connection_limit >= 0 else {}
        return Usage(figures={"disk_bytes": int(size)}, limits=limits)

    def test_connection(self, context: ModuleContext) -> ConnectionOk:
        server = self._server(context)
        with self._connect(context) as connection:
            version, superuser, createrole, createdb = connection.execute(
                "SELECT current_setting('server_version'), rolsuper, rolcreaterole, rolcreatedb"
                " FROM pg_roles WHERE rolname = current_user"
            ).fetchone()
        login = self._login(server)
        if not superuser:
            missing = [name for name, has in (("CREATEROLE", createrole), ("CREATEDB", createdb)) if not has]
            if missing:
                raise PermanentModuleError(
                    f"Connected to PostgreSQL {version} at {self._where(server)}, but the role {login} lacks "
                    f"{' and '.join(missing)}: run ALTER ROLE {login} {' '.join(missing)} on the server."
                )
        return ConnectionOk(
            f"Connected to PostgreSQL {version} at {self._where(server)} as {login}"
            + (" (superuser)." if superuser else " (CREATEROLE, CREATEDB).")
        )

    def list_accounts(self, context: ModuleContext) -> AccountList:
        with self._connect(context) as connection:
            rows = connection.execute(
                "SELECT rolname, shobj_description(oid, 'pg_authid') FROM pg_roles"
                " WHERE shobj_description(oid, 'pg_authid') ~ %s ORDER BY rolname",
                (TAG_PATTERN,),
            ).fetchall()
        return AccountList(
            tuple(RemoteAccount(username=name, service_id=int(tag.rsplit(" ", 1)[1])) for name, tag in rows)
        )

    # --- Create, step by step -------------------------------------------------------------------------------

    def _create(
        self,
        connection: psycopg.Connection,
        service: ServiceSnapshot,
        username: str,
        database: str,
        limit: int,
        password: str,
    ) -> tuple[bool, bool]:
        """Make what is missing of the role and the database, or finish what an earlier attempt began: (whether
        the role was there already, whether the database was made now). Both names are checked before anything
        is made, so a taken database name leaves no role behind."""
        tag = _tag(service)
        role = self._role(connection, username)
        if role is not None and role.tag != tag:
            raise self._taken("role", username)
        found_database = self._database(connection, database)
        if found_database is not None and not self._database_is_ours(found_database, service, username, role):
            raise self._taken("database", database)
        name = sql.Identifier(username)
        if role is None:
            # One transaction: a worker killed here leaves either no role or a tagged one, never an untagged role
            # that the next attempt would take for someone else's.
            with connection.transaction():
                connection.execute(sql.SQL("CREATE ROLE {} LOGIN").format(name))
                connection.execute(sql.SQL("COMMENT ON ROLE {} IS {}").format(name, sql.Literal(tag)))
                self._join_role(connection, username)
        else:
            self._join_role(connection, username)
        self._set_password(connection, username, password)
        connection.execute(sql.SQL("ALTER ROLE {} LOGIN CONNECTION LIMIT {}").format(name, sql.Literal(limit)))
        db_name = sql.Identifier(database)
        if found_database is None:
            # CREATE DATABASE cannot run in a transaction: killed before the COMMENT, the database is untagged but
            # owned by our tagged role, which _database_is_ours accepts on the next attempt.
            connection.execute(
                sql.SQL("CREATE DATABASE {} OWNER {} CONNECTION LIMIT {}").format(db_name, name, sql.Literal(limit))
            )
        else:
            connection.execute(sql.SQL("ALTER DATABASE {} CONNECTION LIMIT {}").format(db_name, sql.Literal(limit)))
        connection.execute(sql.SQL("COMMENT ON DATABASE {} IS {}").format(db_name, sql.Literal(tag)))
        # Without this every role on the server (other clients' too) may connect to the database.
        connection.execute(sql.SQL("REVOKE ALL ON DATABASE {} FROM PUBLIC").format(db_name))
        return role is not None, found_database is None

    def _join_role(self, connection: psycopg.Connection, username: str) -> None:
        """A login role that is not a superuser must be a member of the client's role to make it a database's
        owner, drop that database and end its sessions."""
        superuser, member = connection.execute(
            "SELECT rolsuper, pg_has_role(current_user, %s, 'MEMBER') FROM pg_roles WHERE rolname = current_user",
            (username,),
        ).fetchone()
        if not superuser and not member:
            connection.execute(sql.SQL("GRANT {} TO CURRENT_USER").format(sql.Identifier(username)))

    def _set_password(self, connection: psycopg.Connection, username: str, password: str) -> None:
        if "\x00" in password:
            raise PermanentModuleError("A password cannot contain a NUL character.")
        # libpq hashes the password here (SCRAM, or what the server's password_encryption says), so the clear
        # text never reaches the server or its statement log. The verifier goes in as sql.Literal, quoted and
        # escaped by psycopg: ALTER ROLE is a utility statement, and those take no server-side parameters ($1).
        verifier = connection.pgconn.encrypt_password(password.encode(), username.encode()).decode()
        connection.execute(sql.SQL("ALTER ROLE {} PASSWORD {}").format(sql.Identifier(username), sql.Literal(verifier)))

    # --- Look-ups ---------------------------------------------------------------------------------------------

    def _role(self, connection: psycopg.Connection, username: str) -> _Found | None:
        row = connection.execute(
            "SELECT shobj_description(oid, 'pg_authid'), rolcanlogin, rolconnlimit FROM pg_roles WHERE rolname = %s",
            (username,),
        ).fetchone()
        return None if row is None else _Found(tag=row[0], can_login=row[1], connection_limit=row[2])

    def _database(self, connection: psycopg.Connection, database: str) -> _Found | None:
        row = connection.execute(
            "SELECT shobj_description(d.oid, 'pg_database'), r.rolname, d.datconnlimit"
            " FROM pg_database d JOIN pg_roles r ON r.oid = d.datdba WHERE d.datname = %s",
            (database,),
        ).fetchone()
        return None if row is None else _Found(tag=row[0], owner=row[1], connection_limit=row[2])

    def _database_is_ours(self, found: _Found, service: ServiceSnapshot, username: str, role: _Found | None) -> bool:
        """Tagged with this service, or untagged but owned by this service's tagged role (a create killed
        between CREATE DATABASE and its COMMENT)."""
        if found.tag == _tag(service):
            return True
        return found.tag is None and found.owner == username and role is not None and role.tag == _tag(service)

    def _own_role(self, connection: psycopg.Connection, service: ServiceSnapshot, username: str) -> _Found:
        role = self._role(connection, username)
        if role is None:
            raise PermanentModuleError(
                f"The role {username} of service #{service.service_id} does not exist on the server: "
                "run create again, or check whether it was removed by hand."
            )
        if role.tag != _tag(service):
            raise self._not_ours("role", username, role.tag)
        return role

    def _own_database(
        self, connection: psycopg.Connection, service: ServiceSnapshot, database: str, username: str
    ) -> _Found:
        found = self._database(connection, database)
        if found is None:
            raise PermanentModuleError(
                f"The database {database} of service #{service.service_id} does not exist on the server: "
                "run create again, or check whether it was removed by hand."
            )
        if not self._database_is_ours(found, service, username, self._role(connection, username)):
            raise self._not_ours("database", database, found.tag)
        return found

    def _end_sessions(self, connection: psycopg.Connection, username: str) -> int:
        rows = connection.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = %s AND pid <> pg_backend_pid()",
            (username,),
        ).fetchall()
        return sum(1 for (ended,) in rows if ended)

    def _drop_database(self, connection: psycopg.Connection, database: str) -> None:
        name = sql.Identifier(database)
        if connection.info.server_version >= 130000:
            connection.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(name))
            return
        connection.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
            (database,),
        )
        connection.execute(sql.SQL("DROP DATABASE {}").format(name))

    # --- Errors -----------------------------------------------------------------------------------------------

    def _taken(self, what: str, name: str) -> PermanentModuleError:
        return PermanentModuleError(
            f"The {what} name {name} is taken on the server by something this service did not make: choose "
            "another username for the service."
        )

    def _not_ours(self, what: str, name: str, tag: str | None) -> PermanentModuleError:
        whose = f"is tagged {tag!r}" if tag else "carries no portal tag"
        return PermanentModuleError(
            f"The {what} {name} on the server {whose}, not this service's: the portal leaves it alone. "
            "Check the service's username."
        )

    # --- Connection -------------------------------------------------------------------------------------------

    def _service(self, context: ModuleContext) -> ServiceSnapshot:
        if context.service is None:
            raise PermanentModuleError(f"The {self.label} module needs a service for {context.action.value}.")
        return context.service

    def _server(self, context: ModuleContext) -> ServerInfo:
        if context.server is None:
            raise PermanentModuleError("The service has no server: assign a PostgreSQL server to it first.")
        return context.server

    def _server_settings(self, server: ServerInfo) -> dict:
        try:
            return settings_clean(self.server_settings, server.settings)
        except SettingsInvalid as invalid:
            raise PermanentModuleError(f"The server {server.name}'s settings are invalid: {invalid}.") from None

    def _connection_limit(self, values: dict) -> int:
        try:
            return settings_clean(self.product_settings, values)["connection_limit"]
        except SettingsInvalid as invalid:
            raise PermanentModuleError(f"The package's settings are invalid: {invalid}.") from None

    def _login(self, server: ServerInfo) -> str:
        return server.username or "postgres"

    def _where(self, server: ServerInfo) -> str:
        return f"{server.address}:{server.port or self.default_port}"

    @contextmanager
    def _connect(self, context: ModuleContext) -> Iterator[psycopg.Connection]:
        """An autocommit connection with a connect and a statement timeout; the server's errors become module
        errors (transient: worth retrying; permanent: an admin must act), with no secret in their words."""
        server = self._server(context)
        server_settings = self._server_settings(server)
        password = server.credentials.get("password") or ""
        secrets_in_play = tuple(
            value
            for value in (password, context.service.password if context.service else "", context.params.get("password"))
            if isinstance(value, str) and value
        )
        timeout = max(2, int(settings.PORTAL_MODULE_TIMEOUT_SECONDS))
        where, login = self._where(server), self._login(server)
        try:
            connection = psycopg.connect(
                host=server.address,
                port=server.port or self.default_port,
                user=login,
                password=password or None,
                dbname=server_settings["maintenance_database"] or "postgres",
                sslmode=server_settings["sslmode"] or "prefer",
                connect_timeout=timeout,
                application_name="portal-provisioning",
                options=f"-c statement_timeout={timeout * 1000} -c lock_timeout={timeout * 1000}",
                autocommit=True,
            )
        except psycopg.OperationalError as error:
            raise self._connect_error(error, where, login, server_settings, secrets_in_play) from None
        try:
            with connection:
                yield connection
        except psycopg.Error as error:
            raise self._statement_error(error, where, login, secrets_in_play) from None

    def _connect_error(
        self, error: psycopg.Error, where: str, login: str, server_settings: dict, secrets_in_play: tuple[str, ...]
    ) -> Exception:
        text = str(error).lower()
        if any(words in text for words in _REFUSED_CREDENTIALS):
            return PermanentModuleError(
                f"PostgreSQL at {where}: the server refused the credentials of {login}. Check the server's "
                "username and password."
            )
        if "pg_hba.conf" in text:
            return PermanentModuleError(
                f"PostgreSQL at {where} does not accept {login} from the portal's address: add a line for it to "
                "the server's pg_hba.conf."
            )
        if "does not exist" in text:
            return PermanentModuleError(
                f"PostgreSQL at {where}: {_last_line(error, secrets_in_play)}. Check the server's username and its "
                f"maintenance database ({server_settings['maintenance_database']})."
            )
        if any(words in text for words in _TRANSIENT_CONNECT):
            return TransientModuleError(
                f"Could not reach PostgreSQL at {where}: {_last_line(error, secrets_in_play)}. Check that the "
                "server is running and accepts TCP connections from the portal."
            )
        if "ssl" in text:
            return PermanentModuleError(
                f"PostgreSQL at {where}: {_last_line(error, secrets_in_play)}. Check the server's SSL mode."
            )
        return TransientModuleError(
            f"Could not connect to PostgreSQL at {where}: {_last_line(error, secrets_in_play)}."
        )

    def _statement_error(
        self, error: psycopg.Error, where: str, login: str, secrets_in_play: tuple[str, ...]
    ) -> Exception:
        reason = _last_line(error, secrets_in_play)
        if isinstance(error, errors.InsufficientPrivilege):
            return PermanentModuleError(
                f"PostgreSQL at {where}: the role {login} may not do this ({reason}). It needs CREATEROLE and "
                "CREATEDB, or to be a superuser."
            )
        if isinstance(error, errors.QueryCanceled | errors.LockNotAvailable):
            return TransientModuleError(f"PostgreSQL at {where} did not finish in time ({reason}); it will be retried.")
        # 40xxx, 53xxx, 55xxx, 57xxx (serialization, resources, object in use, shutting down): the next try may
        # succeed; psycopg counts them all as OperationalError, as it does a connection lost mid-statement.
        if isinstance(error, psycopg.OperationalError):
            return TransientModuleError(f"PostgreSQL at {where}: {reason}; it will be retried.")
        return PermanentModuleError(f"PostgreSQL at {where} refused the statement: {reason}.")


def _last_line(error: psycopg.Error, secrets_in_play: tuple[str, ...]) -> str:
    """The server's or libpq's own reason, one line, with any secret of the call blanked out."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    text = lines[0] if lines else type(error).__name__
    text = re.sub(r"^connection failed: ", "", text)
    text = re.sub(r"^connection to server at .*? failed: (FATAL: +)?", "", text)
    return str(redact(text.rstrip("."), secrets=secrets_in_play))
