"""Servers for the module tests: the PostgreSQL of DATABASE_URL (trust auth, as CI runs it) and, for what trust
cannot show (a wrong password refused, a new password taking effect), a private cluster with scram-sha-256 that
the tests start on a free loopback port from the same PostgreSQL installation."""

import contextlib
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from django.conf import settings

from provisioning.modules.base import ServerInfo

CLUSTER_PASSWORD = "cluster-admin-secret"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def unique_name(prefix: str = "t") -> str:
    return f"{prefix}{uuid.uuid4().hex[:12]}"


def unique_service_id() -> int:
    return 900_000_000 + uuid.uuid4().int % 99_000_000


@pytest.fixture
def local_server() -> ServerInfo:
    """The DATABASE_URL server as a module's server, its login the superuser of that URL."""
    db = settings.DATABASES["default"]
    return ServerInfo(
        id=1,
        name="local",
        hostname=db["HOST"] or "127.0.0.1",
        port=int(db["PORT"] or 5432),
        username=db["USER"],
        credentials={"password": db["PASSWORD"]} if db["PASSWORD"] else {},
    )


def superuser_connection(server: ServerInfo) -> psycopg.Connection:
    return psycopg.connect(
        host=server.address,
        port=server.port,
        user=server.username,
        password=server.credentials.get("password") or None,
        dbname="postgres",
        autocommit=True,
        connect_timeout=5,
    )


@pytest.fixture
def cleanup(local_server) -> Iterator[list[str]]:
    """Names (roles and databases alike) a test made on the DATABASE_URL server; dropped after it, whatever it did."""
    names: list[str] = []
    yield names
    with superuser_connection(local_server) as connection:
        for name in names:
            connection.execute(
                psycopg.sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(psycopg.sql.Identifier(name))
            )
        for name in names:
            connection.execute(psycopg.sql.SQL("DROP ROLE IF EXISTS {}").format(psycopg.sql.Identifier(name)))


def _as_postgres() -> dict:
    """initdb and postgres refuse to run as root: as root, they run as the postgres user (the process itself, not
    a runuser wrapper, so that the signal that stops it reaches it)."""
    if os.geteuid() != 0:
        return {}
    account = pwd.getpwnam("postgres")
    return {"user": account.pw_uid, "group": account.pw_gid, "extra_groups": []}


@contextlib.contextmanager
def private_cluster() -> Iterator[ServerInfo]:
    bindir = Path(subprocess.run(["pg_config", "--bindir"], capture_output=True, text=True, check=True).stdout.strip())
    home = Path(tempfile.mkdtemp(prefix="portal-pg-"))
    try:
        (home / "pwfile").write_text(CLUSTER_PASSWORD + "\n")
        if os.geteuid() == 0:
            for path in (home, home / "pwfile"):
                os.chown(path, _as_postgres()["user"], _as_postgres()["group"])
        subprocess.run(
            [str(bindir / "initdb"), "-D", str(home / "data"), "-U", "postgres", "-A", "scram-sha-256",
             f"--pwfile={home / 'pwfile'}", "--no-sync", "--no-locale", "-E", "UTF8"],
            check=True, capture_output=True, **_as_postgres(),
        )  # fmt: skip
        port = free_port()
        log = (home / "log").open("w")
        process = subprocess.Popen(
            [str(bindir / "postgres"), "-D", str(home / "data"), "-k", str(home), "-p", str(port),
             "-c", "listen_addresses=127.0.0.1", "-c", "fsync=off", "-c", "max_connections=30"],
            stdout=log, stderr=subprocess.STDOUT, **_as_postgres(),
        )  # fmt: skip
        server = ServerInfo(
            id=2, name="private", hostname="127.0.0.1", port=port, username="postgres",
            credentials={"password": CLUSTER_PASSWORD},
        )  # fmt: skip
        deadline = time.monotonic() + 30
        while True:
            try:
                superuser_connection(server).close()
                break
            except psycopg.OperationalError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"the private PostgreSQL did not start: {(home / 'log').read_text()}") from None
                time.sleep(0.1)
        try:
            yield server
        finally:
            process.send_signal(signal.SIGINT)  # fast shutdown: ends the sessions a test left open
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            log.close()
    finally:
        shutil.rmtree(home, ignore_errors=True)


@pytest.fixture(scope="session")
def password_server() -> Iterator[ServerInfo]:
    """A PostgreSQL that checks passwords (scram-sha-256), its superuser postgres with CLUSTER_PASSWORD."""
    with private_cluster() as server:
        yield server
