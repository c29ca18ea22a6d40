"""A real EPP server for the tests (RFC 5730-5734): TLS on a free loopback port, RFC 5734 frames, one thread per
connection, and an in-memory registry (tests/epp_registry.py, answers in tests/epp_answers.py).

Certificates are made with `cryptography` (`make_certificates`): a test CA, the server's certificate for
127.0.0.1/localhost signed by it, a client certificate for the tests that require one, and a second CA that
signed nothing here (to show that verification really happens).

Sessions as RFC 5730 2.9.1 describes them: the greeting on connect and on <hello>; login checks the client id and
password (2200 and the connection closed), the version (2100), the language (2102), the object services against
the greeting (2307) and the account's session limit (`max_sessions`: 2502 and closed); a command before login is
2002; logout is 1500 and closed.

Knobs for the tests: `fail_next(count, code)` answers the next commands after login with that code (2400 command
failed; 2500/2501/2502 also close the connection), `fail_command(name, count, code)` the next commands of that name
only; `stall_next(count)` reads the next commands and never answers, `stall_command(name, count)` those of a name;
`send_instead(raw)` sends raw bytes instead of the next answer; `fragment_replies` writes every frame in small TLS
records; `drop_connections()` closes every live connection; `refused_nameservers` (on `registry`) are answered 2303
(RFC 5731 gives no code of its own; an unknown host object is 2303, and that is what a registry that does not know
or allow a host says); `complete_transfer(name)` / `reject_transfer(name, reason)` end a pending transfer and queue
poll messages for both registrars. `received` records every command (client id, name, parsed element);
`count(name)` counts them; `logins` counts successful logins."""

from __future__ import annotations

import collections
import contextlib
import datetime
import ipaddress
import itertools
import socket
import ssl
import struct
import threading
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from tests import epp_answers
from tests.epp_registry import CONTACT, DOMAIN, EPP, HOST, MESSAGES, Domain, Refusal, Registry, child, q, stamp

ACCOUNTS = {"registrar-a": "secret-a-1", "registrar-b": "secret-b-1"}
OBJ_URIS = (DOMAIN, CONTACT, HOST)
EXT_URIS = ("urn:ietf:params:xml:ns:secDNS-1.1", "urn:ietf:params:xml:ns:rgp-1.0")
MAX_FRAME = 256 * 1024


@dataclass(frozen=True)
class Certificates:
    ca_file: Path
    cert_file: Path
    key_file: Path
    client_cert_file: Path
    client_key_file: Path
    other_ca_file: Path  # a CA that signed nothing the server presents


def _key_and_name(common_name: str) -> tuple[ec.EllipticCurvePrivateKey, x509.Name]:
    return ec.generate_private_key(ec.SECP256R1()), x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _sign(subject, key, issuer, issuer_key, *, ca: bool, extensions=()) -> x509.Certificate:
    now = datetime.datetime.now(datetime.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=2))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    for extension in extensions:
        builder = builder.add_extension(extension, critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


def _write(path: Path, certificate: x509.Certificate, key: ec.EllipticCurvePrivateKey | None = None) -> Path:
    path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    if key is not None:
        path.with_suffix(".key").write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
        )
    return path


def make_certificates(directory: Path) -> Certificates:
    ca_key, ca_name = _key_and_name("EPP test CA")
    ca = _sign(ca_name, ca_key, ca_name, ca_key, ca=True)
    server_key, server_name = _key_and_name("epp.localhost")
    addresses = x509.SubjectAlternativeName(
        [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
    )
    server = _sign(server_name, server_key, ca_name, ca_key, ca=False, extensions=[addresses])
    client_key, client_name = _key_and_name("registrar-a")
    client = _sign(
        client_name,
        client_key,
        ca_name,
        ca_key,
        ca=False,
        extensions=[x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH])],
    )
    other_key, other_name = _key_and_name("Some other CA")
    other = _sign(other_name, other_key, other_name, other_key, ca=True)
    return Certificates(
        ca_file=_write(directory / "ca.pem", ca),
        cert_file=_write(directory / "server.pem", server, server_key),
        key_file=directory / "server.key",
        client_cert_file=_write(directory / "client.pem", client, client_key),
        client_key_file=directory / "client.key",
        other_ca_file=_write(directory / "other-ca.pem", other),
    )


@dataclass(frozen=True)
class Received:
    clid: str | None
    name: str  # "login", "domain:create", "domain:transfer:request", "poll:req", "hello", ...
    node: ET.Element  # the command's object element (or the verb for login, logout and poll)


class _Connection:
    def __init__(self, sock: ssl.SSLSocket) -> None:
        self.sock = sock
        self.clid: str | None = None


class EppServer:
    def __init__(
        self, certificates: Certificates, *, zones: tuple[str, ...] = ("test", "example"), require_client_cert=False
    ) -> None:
        self.host = "127.0.0.1"
        self.accounts = dict(ACCOUNTS)
        self.obj_uris, self.ext_uris = list(OBJ_URIS), list(EXT_URIS)
        self.max_sessions = 4
        self.fragment_replies = False
        self.frozen_now: datetime.datetime | None = None
        self.registry = Registry(zones=zones, now=self.now)
        self.received: list[Received] = []
        self.logins = 0
        self.lock = threading.RLock()
        self._failures: collections.deque[int] = collections.deque()
        self._failures_of: dict[str, collections.deque[int]] = collections.defaultdict(collections.deque)
        self._stalls = 0
        self._stalls_of: collections.Counter[str] = collections.Counter()
        self._instead: collections.deque[bytes] = collections.deque()
        self._connections: set[_Connection] = set()
        self._sv_ids = itertools.count(1)
        self._tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self._tls.load_cert_chain(certificates.cert_file, certificates.key_file)
        if require_client_cert:
            self._tls.verify_mode = ssl.CERT_REQUIRED
            self._tls.load_verify_locations(certificates.ca_file)
        self._listener = socket.create_server((self.host, 0))
        self.port = self._listener.getsockname()[1]
        self._threads: list[threading.Thread] = []
        self._stopping = threading.Event()

    # --- lifecycle -------------------------------------------------------------------------------------------

    def start(self) -> EppServer:
        thread = threading.Thread(target=self._accept, name=f"epp-server-{self.port}", daemon=True)
        thread.start()
        self._threads.append(thread)
        return self

    def stop(self) -> None:
        self._stopping.set()
        self.drop_connections()
        for thread in self._threads:
            thread.join(timeout=5)
        self._listener.close()

    # --- knobs ---------------------------------------------------------------------------------------------------

    def now(self) -> datetime.datetime:
        return self.frozen_now or datetime.datetime.now(datetime.UTC).replace(microsecond=0)

    def fail_next(self, count: int = 1, code: int = 2400) -> None:
        with self.lock:
            self._failures.extend([code] * count)

    def fail_command(self, name: str, count: int = 1, code: int = 2400) -> None:
        """The next `count` commands named `name` ("poll:ack", "domain:info", ...) get that code and are not carried
        out; other commands are answered as usual."""
        with self.lock:
            self._failures_of[name].extend([code] * count)

    def stall_next(self, count: int = 1) -> None:
        with self.lock:
            self._stalls += count

    def stall_command(self, name: str, count: int = 1) -> None:
        """The next `count` commands of that name are read, never carried out and never answered."""
        with self.lock:
            self._stalls_of[name] += count

    def send_instead(self, raw: bytes, *, framed: bool = True) -> None:
        """The next answer is these bytes (with an RFC 5734 header unless `framed` is False)."""
        with self.lock:
            self._instead.append(struct.pack("!I", len(raw) + 4) + raw if framed else raw)

    def drop_connections(self) -> None:
        with self.lock:
            connections = list(self._connections)
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.sock.shutdown(socket.SHUT_RDWR)
            connection.sock.close()

    def add_domain(self, name: str, *, sponsor: str = "registrar-a", **fields) -> Domain:
        with self.lock:
            return self.registry.add_domain(name, sponsor=sponsor, **fields)

    def queue_message(self, clid: str, text: str, domain_name: str | None = None) -> None:
        """A message in the account's poll queue: text only, or with the domain's trnData when it has a transfer."""
        with self.lock:
            self.registry.queue(clid, text, domain_name)

    def complete_transfer(self, name: str) -> Domain:
        with self.lock:
            return self.registry.finish_transfer(name, "serverApproved")

    def reject_transfer(self, name: str, reason: str, *, status: str = "clientRejected") -> Domain:
        with self.lock:
            return self.registry.finish_transfer(name, status, reason)

    def count(self, name: str) -> int:
        with self.lock:
            return sum(1 for command in self.received if command.name == name)

    def sessions_of(self, clid: str) -> int:
        with self.lock:
            return sum(1 for connection in self._connections if connection.clid == clid)

    # --- the network -------------------------------------------------------------------------------------------

    def _accept(self) -> None:
        self._listener.settimeout(0.05)  # a closed listener does not wake a blocked accept(): poll for stop()
        while not self._stopping.is_set():
            try:
                raw, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            thread = threading.Thread(target=self._serve, args=(raw,), daemon=True)
            thread.start()
            self._threads.append(thread)

    def _serve(self, raw: socket.socket) -> None:
        raw.settimeout(10)
        try:
            sock = self._tls.wrap_socket(raw, server_side=True)
        except (OSError, ssl.SSLError):
            raw.close()
            return
        connection = _Connection(sock)
        with self.lock:
            self._connections.add(connection)
        try:
            self._write(sock, self._greeting())
            while (frame := self._read(sock)) is not None:
                reply, close = self._answer(connection, frame)
                if reply is not None:
                    self._write(sock, reply)
                if close:
                    break
        except (OSError, ssl.SSLError):
            pass
        finally:
            with self.lock:
                self._connections.discard(connection)
            sock.close()

    def _read(self, sock: ssl.SSLSocket) -> bytes | None:
        sock.settimeout(None)
        header = self._read_exactly(sock, 4)
        if header is None:
            return None
        (length,) = struct.unpack("!I", header)
        if not 4 < length <= MAX_FRAME:
            return None
        return self._read_exactly(sock, length - 4)

    @staticmethod
    def _read_exactly(sock: ssl.SSLSocket, count: int) -> bytes | None:
        data = b""
        while len(data) < count:
            chunk = sock.recv(count - len(data))
            if not chunk:
                return None
            data += chunk
        return data

    def _write(self, sock: ssl.SSLSocket, data: bytes) -> None:
        if not self.fragment_replies:
            sock.sendall(data)
            return
        for start in itertools.chain([0, 2], range(4, len(data), 40)):  # the header itself split in two
            piece = data[start : start + (2 if start < 4 else 40)]
            if piece:
                sock.sendall(piece)
                time.sleep(0.002)

    @staticmethod
    def _frame(root: ET.Element) -> bytes:
        body = ET.tostring(root, encoding="utf-8", xml_declaration=True)
        return struct.pack("!I", len(body) + 4) + body

    # --- sessions and commands ---------------------------------------------------------------------------------------

    def _greeting(self) -> bytes:
        root = ET.Element("epp", {"xmlns": EPP})
        greeting = child(root, "greeting")
        child(greeting, "svID", "Portal test EPP server")
        child(greeting, "svDate", stamp(self.now()))
        menu = child(greeting, "svcMenu")
        child(menu, "version", "1.0")
        child(menu, "lang", "en")
        for uri in self.obj_uris:
            child(menu, "objURI", uri)
        if self.ext_uris:
            extension = child(menu, "svcExtension")
            for uri in self.ext_uris:
                child(extension, "extURI", uri)
        dcp = child(greeting, "dcp")
        child(child(dcp, "access"), "all")
        statement = child(dcp, "statement")
        child(child(statement, "purpose"), "admin")
        child(child(statement, "recipient"), "ours")
        child(child(statement, "retention"), "stated")
        return self._frame(root)

    def _answer(self, connection: _Connection, frame: bytes) -> tuple[bytes | None, bool]:
        """(the frame to send or None, whether to close the connection afterwards)."""
        try:
            root = ET.fromstring(frame)
        except ET.ParseError:
            return self._response(2001, None, reason="Not well-formed XML"), False
        if root.find(q(EPP, "hello")) is not None:
            with self.lock:
                self.received.append(Received(connection.clid, "hello", root))
            return self._greeting(), False
        command = root.find(q(EPP, "command"))
        verb = command[0] if command is not None and len(command) else None
        if verb is None:
            return self._response(2001, None, reason="No command"), False
        cltrid = (command.findtext(q(EPP, "clTRID")) or "").strip() or None
        local = verb.tag.rpartition("}")[2]
        target = verb if local in ("login", "logout", "poll") or not len(verb) else verb[0]
        name = _command_name(local, verb, target)
        with self.lock:
            self.received.append(Received(connection.clid, name, target))
            if self._stalls:
                self._stalls -= 1
                return None, False
            if self._stalls_of[name]:
                self._stalls_of[name] -= 1
                return None, False
            if self._instead:
                return self._instead.popleft(), False
            if name == "login":
                return self._login(connection, verb, cltrid)
            if connection.clid is None:
                return self._response(2002, cltrid, reason="Log in first"), False
            if name == "logout":
                return self._response(1500, cltrid), True
            if self._failures:
                code = self._failures.popleft()
                return self._response(code, cltrid), code >= 2500
            if self._failures_of[name]:
                code = self._failures_of[name].popleft()
                return self._response(code, cltrid), code >= 2500
            try:
                answer = self._dispatch(connection.clid, name, verb, target)
            except Refusal as refusal:
                return self._response(refusal.code, cltrid, reason=refusal.reason, value=refusal.value), False
            return self._response(answer.code, cltrid, res_data=answer.res_data, msgq=answer.msgq), False

    def _login(self, connection: _Connection, verb: ET.Element, cltrid: str | None) -> tuple[bytes, bool]:
        if connection.clid is not None:
            return self._response(2002, cltrid, reason="Already logged in"), False
        clid, password = (verb.findtext(q(EPP, part)) or "" for part in ("clID", "pw"))
        if self.accounts.get(clid) != password:
            return self._response(2200, cltrid), True
        if verb.findtext(f"{q(EPP, 'options')}/{q(EPP, 'version')}") != "1.0":
            return self._response(2100, cltrid), False
        if verb.findtext(f"{q(EPP, 'options')}/{q(EPP, 'lang')}") != "en":
            return self._response(2102, cltrid), False
        announced = [(e.text or "").strip() for e in verb.iter(q(EPP, "objURI"))]
        unknown = [uri for uri in announced if uri not in self.obj_uris]
        if unknown or not announced:
            return self._response(2307, cltrid, reason=", ".join(unknown) or "No object service"), False
        if self.sessions_of(clid) >= self.max_sessions:
            return self._response(2502, cltrid), True
        new_password = verb.findtext(q(EPP, "newPW"))
        if new_password:
            self.accounts[clid] = new_password
        connection.clid = clid
        self.logins += 1
        return self._response(1000, cltrid), False

    def _dispatch(self, clid: str, name: str, verb: ET.Element, target: ET.Element) -> epp_answers.Answer:
        if name.startswith("poll:"):
            return epp_answers.poll(self.registry, clid, verb)
        if name.startswith("domain:transfer:"):
            return epp_answers.domain_transfer(self.registry, clid, target, name.rpartition(":")[2])
        handler = epp_answers.HANDLERS.get(name)
        if handler is None:
            raise Refusal(2101, f"{name} is not implemented")
        return handler(self.registry, clid, target)

    def _response(
        self,
        code: int,
        cltrid: str | None,
        *,
        reason: str = "",
        value: ET.Element | None = None,
        res_data: ET.Element | None = None,
        msgq: ET.Element | None = None,
    ) -> bytes:
        root = ET.Element("epp", {"xmlns": EPP})
        response = child(root, "response")
        result = child(response, "result", code=str(code))
        child(result, "msg", MESSAGES.get(code, "Command failed"))
        if reason:
            ext_value = child(result, "extValue")
            # <value> holds the offending element when there is one; RFC 5730 requires the element either way.
            child(ext_value, "value").append(value if value is not None else ET.Element("text"))
            child(ext_value, "reason", reason)
        if msgq is not None:
            response.append(msgq)
        if res_data is not None:
            child(response, "resData").append(res_data)
        trid = child(response, "trID")
        if cltrid:
            child(trid, "clTRID", cltrid)
        child(trid, "svTRID", f"SV-{next(self._sv_ids):08d}")
        return self._frame(root)


def _command_name(local: str, verb: ET.Element, target: ET.Element) -> str:
    if local in ("login", "logout"):
        return local
    if local == "poll":
        return f"poll:{verb.get('op', '')}"
    prefix = {DOMAIN: "domain", CONTACT: "contact", HOST: "host"}.get(target.tag.partition("}")[0][1:], "unknown")
    if local == "transfer":
        return f"{prefix}:transfer:{verb.get('op', '')}"
    return f"{prefix}:{local}"
