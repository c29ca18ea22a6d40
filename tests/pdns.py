"""A real PowerDNS Authoritative server for the tests: Debian's pdns_server with the SQLite backend, in a temporary
directory, on free loopback ports, with the HTTP API on and a random key. One per xdist worker (a session fixture
in tests/provisioning/modules/conftest.py). `dns_query` asks it over UDP, as a resolver would."""

from __future__ import annotations

import ipaddress
import json
import secrets
import shutil
import socket
import sqlite3
import struct
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

PDNS_SERVER = Path("/usr/sbin/pdns_server")
# Debian's pdns-backend-sqlite3 ships the schema in both places; the first is the one its postinst reads.
SCHEMAS = (
    Path("/usr/share/pdns-backend-sqlite3/schema/schema.sqlite3.sql"),
    Path("/usr/share/doc/pdns-backend-sqlite3/schema.sqlite3.sql"),
)
STARTUP_SECONDS = 20


def _free_port() -> int:
    """A loopback port free for both UDP and TCP at this moment (DNS listens on both)."""
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as tcp:
            tcp.bind(("127.0.0.1", 0))
            port = tcp.getsockname()[1]
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
                try:
                    udp.bind(("127.0.0.1", port))
                except OSError:
                    continue
        return port


@dataclass
class PowerDns:
    directory: Path
    dns_port: int
    api_port: int
    api_key: str
    process: subprocess.Popen
    started_in: float  # seconds from spawn to the API's first answer

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.api_port}/api/v1/servers/localhost"

    def api(self, method: str, path: str = "", body: dict | None = None) -> tuple[int, object]:
        """The test's own look at the server, independent of the module: (status, parsed JSON or text)."""
        request = urllib.request.Request(
            self.api_url + path,
            method=method,
            data=json.dumps(body).encode() if body is not None else None,
            headers={"X-API-Key": self.api_key, "Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                status, text = response.status, response.read().decode()
        except urllib.error.HTTPError as error:
            status, text = error.code, error.read().decode()
        try:
            return status, json.loads(text) if text else None
        except ValueError:
            return status, text

    def dns_query(self, name: str, record_type: str = "A") -> tuple[int, list[str]]:
        return dns_query(self.dns_port, name, record_type)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        shutil.rmtree(self.directory, ignore_errors=True)


def _schema() -> Path:
    for schema in SCHEMAS:
        if schema.exists():
            return schema
    raise FileNotFoundError(f"no PowerDNS SQLite schema at {', '.join(map(str, SCHEMAS))}: run `make system-deps`")


def start_powerdns() -> PowerDns:
    """Start pdns_server as the user running the tests and wait until its API answers. A port taken between
    choosing it and binding it (another worker, another process) gets one more try on new ports."""
    for attempt in range(3):
        try:
            return _start_once()
        except _PortTaken:
            if attempt == 2:
                raise
    raise AssertionError("unreachable")


class _PortTaken(RuntimeError):
    pass


def _start_once() -> PowerDns:
    directory = Path(tempfile.mkdtemp(prefix="pdns-test-"))
    database = directory / "pdns.sqlite3"
    with sqlite3.connect(database) as connection:
        connection.executescript(_schema().read_text())
    connection.close()
    dns_port, api_port = _free_port(), _free_port()
    api_key = secrets.token_urlsafe(24)
    (directory / "pdns.conf").write_text(
        "\n".join(
            [
                "launch=gsqlite3",
                f"gsqlite3-database={database}",
                "local-address=127.0.0.1",
                f"local-port={dns_port}",
                "api=yes",
                f"api-key={api_key}",
                "webserver=yes",
                "webserver-address=127.0.0.1",
                f"webserver-port={api_port}",
                "webserver-allow-from=127.0.0.0/8",
                "daemon=no",
                "guardian=no",
                f"socket-dir={directory}",
                # No query to the PowerDNS project's security-status zone: the tests stay on loopback.
                "security-poll-suffix=",
                "loglevel=4",
            ]
        )
        + "\n"
    )
    log = (directory / "pdns.log").open("wb")
    begun = time.monotonic()
    process = subprocess.Popen(
        [str(PDNS_SERVER), f"--config-dir={directory}"],
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        cwd=directory,
    )
    log.close()
    server = PowerDns(directory, dns_port, api_port, api_key, process, 0.0)
    deadline = begun + STARTUP_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            output = (directory / "pdns.log").read_text(errors="replace")
            server.stop()
            if "Address already in use" in output:
                raise _PortTaken(output[-500:])
            raise RuntimeError(f"pdns_server exited with {process.returncode}:\n{output[-2000:]}")
        try:
            status, _ = server.api("GET")
        except OSError:
            status = None
        if status == 200:
            server.started_in = time.monotonic() - begun
            return server
        time.sleep(0.05)
    output = (directory / "pdns.log").read_text(errors="replace")
    server.stop()
    raise RuntimeError(f"pdns_server's API did not answer within {STARTUP_SECONDS}s:\n{output[-2000:]}")


# --- A resolver's question, over UDP -----------------------------------------------------------------------------

TYPES = {"A": 1, "NS": 2, "CNAME": 5, "SOA": 6, "MX": 15, "TXT": 16, "AAAA": 28}
RCODE_NOERROR, RCODE_NXDOMAIN, RCODE_REFUSED = 0, 3, 5


def _name(data: bytes, offset: int) -> tuple[str, int]:
    """A (possibly compressed) name at offset: (dotted name, offset after it in the record)."""
    labels, end, jumps = [], None, 0
    while True:
        length = data[offset]
        if length & 0xC0 == 0xC0:
            if end is None:
                end = offset + 2
            offset = ((length & 0x3F) << 8) | data[offset + 1]
            jumps += 1
            if jumps > 20:
                raise ValueError("a compression loop")
            continue
        if length == 0:
            return ".".join(labels) + ".", end if end is not None else offset + 1
        labels.append(data[offset + 1 : offset + 1 + length].decode("ascii"))
        offset += 1 + length


def dns_query(port: int, name: str, record_type: str = "A") -> tuple[int, list[str]]:
    """Ask 127.0.0.1:port for name's records of one type: (rcode, the answers of that type, as text: an address,
    a target name, "10 mail.example.test.")."""
    query_id = secrets.randbits(16)
    qtype = TYPES[record_type]
    question = b"".join(bytes([len(label)]) + label.encode("ascii") for label in name.rstrip(".").split("."))
    packet = struct.pack("!HHHHHH", query_id, 0, 1, 0, 0, 0) + question + b"\0" + struct.pack("!HH", qtype, 1)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
        udp.settimeout(5)
        udp.sendto(packet, ("127.0.0.1", port))
        while True:
            data, _ = udp.recvfrom(65535)
            if struct.unpack("!H", data[:2])[0] == query_id:
                break
    _id, flags, questions, answers, _ns, _ar = struct.unpack("!HHHHHH", data[:12])
    offset = 12
    for _ in range(questions):
        _qname, offset = _name(data, offset)
        offset += 4
    found = []
    for _ in range(answers):
        _rname, offset = _name(data, offset)
        rtype, _class, _ttl, length = struct.unpack("!HHIH", data[offset : offset + 10])
        offset += 10
        rdata = data[offset : offset + length]
        if rtype == qtype:
            if rtype == TYPES["A"] or rtype == TYPES["AAAA"]:
                found.append(str(ipaddress.ip_address(rdata)))
            elif rtype in (TYPES["CNAME"], TYPES["NS"]):
                found.append(_name(data, offset)[0])
            elif rtype == TYPES["MX"]:
                found.append(f"{struct.unpack('!H', rdata[:2])[0]} {_name(data, offset + 2)[0]}")
            else:
                found.append(rdata.hex())
        offset += length
    return flags & 0xF, found
