"""A local stand-in for a WHM panel, the one server the provisioning tests cannot run for real.

A threaded HTTPS server on a free loopback port, with a self-signed certificate made with `cryptography` in a
temporary directory. It checks the `Authorization: whm USER:TOKEN` header, keeps accounts and packages in memory,
and answers the WHM API 1 functions the cPanel module calls in WHM's documented shapes:
`{"metadata": {"command", "result", "reason", "version"}, "data": {...}}`, with `result = 0` and a reason for what
WHM refuses (an unknown account, an account or domain that exists, an unknown package, an invalid or reserved
username, a weak password). Parameters are read from the query string and from a form-encoded body, as WHM reads
them. Every request is recorded (path, query, body, headers, the parameters decoded), so a test can check that the
token travels only in the header and that values arrived intact.

Faults for the error tests: `fault = "refuse"` closes each connection before the TLS handshake, `"hang"` accepts
and never answers (until the test ends), `"unavailable"` answers HTTP 503, `"drop_after"` does the work of
`drop_function` and then cuts the connection without an answer (a reply lost on the way). `refuse_next(function,
reason)` makes the next call of a function fail with WHM's result 0 and that reason.
"""

from __future__ import annotations

import datetime
import ipaddress
import json
import re
import secrets
import shutil
import socket
import ssl
import tempfile
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

WHM_VERSION = "11.124.0.15"
# cPanel's documented username rule, as WHM applies it to createacct.
USERNAME_RULE = re.compile(r"(?!test)[a-z][a-z0-9]{0,15}(?<!assword)")
RESERVED = frozenset({"root", "admin", "postmaster", "cpanel", "nobody", "mysql", "ftp", "mail", "www"})
DOMAIN_RULE = re.compile(r"(?=.{4,253}$)([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}")


@dataclass
class Recorded:
    method: str
    path: str  # without the query
    query: str  # as sent, still encoded
    body: str  # as sent, still encoded
    headers: dict[str, str]
    function: str
    params: dict[str, str]


@dataclass
class Package:
    name: str
    disk_mib: int | None  # None: unlimited


@dataclass
class Account:
    user: str
    domain: str
    plan: str
    password: str
    email: str = ""
    suspended: bool = False
    suspend_reason: str = ""
    disk_used_mib: int = 0
    dedicated_ip: bool = False
    owner: str = "root"

    def summary(self, packages: dict[str, Package]) -> dict[str, object]:
        package = packages.get(self.plan)
        limit = package.disk_mib if package else None
        return {
            "user": self.user,
            "domain": self.domain,
            "plan": self.plan,
            "email": self.email or "*unknown*",
            "owner": self.owner,
            "ip": "192.0.2.20" if self.dedicated_ip else "192.0.2.10",
            "diskused": f"{self.disk_used_mib}M",
            "disklimit": f"{limit}M" if limit else "unlimited",
            "suspended": 1 if self.suspended else 0,
            "suspendreason": self.suspend_reason if self.suspended else "not suspended",
            "partition": "home",
            "shell": "/usr/local/cpanel/bin/noshell",
            "theme": "jupiter",
        }


def _certificate(directory: Path) -> tuple[Path, Path, str]:
    """A self-signed certificate for localhost and 127.0.0.1: (cert file, key file, SHA-256 fingerprint in hex)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "whm-standin.localhost")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=30))
        .add_extension(
            x509.SubjectAlternativeName([x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "whm.crt", directory / "whm.key"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_path, key_path, certificate.fingerprint(hashes.SHA256()).hex()


class _Refused(Exception):
    """WHM's result 0 with this reason."""


class WhmStandIn:
    def __init__(self, *, user: str = "root") -> None:
        self.user = user
        self.token = "".join(secrets.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789") for _ in range(32))
        self.packages: dict[str, Package] = {
            "basic": Package("basic", None),
            "gold": Package("gold", 5000),
        }
        self.accounts: dict[str, Account] = {}
        self.requests: list[Recorded] = []
        self.fault = ""  # "", "refuse", "hang", "unavailable", "drop_after"
        self.drop_function = "createacct"
        self.refusals: dict[str, str] = {}  # function -> reason, used once
        self.lock = threading.Lock()
        self.ended = threading.Event()
        self.directory = Path(tempfile.mkdtemp(prefix="whm-standin-"))
        cert_path, key_path, self.fingerprint = _certificate(self.directory)
        self.tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.tls.load_cert_chain(cert_path, key_path)
        self.server = self._server()
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    @property
    def port(self) -> int:
        return self.server.server_address[1]

    def start(self) -> WhmStandIn:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.ended.set()  # lets a hanging handler go
        self.server.shutdown()
        self.server.server_close()
        shutil.rmtree(self.directory, ignore_errors=True)

    def refuse_next(self, function: str, reason: str) -> None:
        with self.lock:
            self.refusals[function] = reason

    def add_account(self, user: str, domain: str, plan: str = "basic", **fields) -> Account:
        with self.lock:
            account = self.accounts[user] = Account(user=user, domain=domain, plan=plan, password="", **fields)
            return account

    def calls(self, function: str | None = None) -> list[Recorded]:
        with self.lock:
            return [request for request in self.requests if function is None or request.function == function]

    # --- the HTTPS server ---------------------------------------------------------------------------------

    def _server(self) -> ThreadingHTTPServer:
        standin = self

        class Server(ThreadingHTTPServer):
            daemon_threads = True

            def finish_request(self, request, client_address) -> None:
                # The handshake runs in the connection's own thread, so a client that stalls in it holds no one up.
                if standin.fault == "refuse":
                    request.close()
                    return
                try:
                    request = standin.tls.wrap_socket(request, server_side=True)
                except (ssl.SSLError, OSError):
                    return  # a client that refused our certificate, as it should when the pin does not match
                super().finish_request(request, client_address)

            def handle_error(self, request, client_address) -> None:
                pass  # a client that gave up (a timeout test) is no failure of the stand-in

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args) -> None:
                pass

            def do_GET(self) -> None:
                self.answer()

            def do_POST(self) -> None:
                self.answer()

            def answer(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length).decode("utf-8", "replace") if length else ""
                split = urlsplit(self.path)
                function = split.path.removeprefix("/json-api/") if split.path.startswith("/json-api/") else ""
                params = {key: values[-1] for key, values in parse_qs(split.query, keep_blank_values=True).items()}
                if "form-urlencoded" in (self.headers.get("Content-Type") or ""):
                    params.update({key: values[-1] for key, values in parse_qs(body, keep_blank_values=True).items()})
                with standin.lock:
                    standin.requests.append(
                        Recorded(
                            method=self.command,
                            path=split.path,
                            query=split.query,
                            body=body,
                            headers={name.lower(): value for name, value in self.headers.items()},
                            function=function,
                            params=params,
                        )
                    )
                if standin.fault == "hang":
                    standin.ended.wait(60)
                    return
                if standin.fault == "unavailable":
                    self.reply(503, b"Service Unavailable", "text/plain")
                    return
                if self.headers.get("Authorization") != f"whm {standin.user}:{standin.token}":
                    # cpsrvd's refusal of a token it does not know
                    self.reply(403, b'{"cpanelresult":{"error":"Access denied","data":{"result":"0"}}}')
                    return
                if not function:
                    self.reply(404, b"Not Found", "text/plain")
                    return
                document = standin.dispatch(function, params)
                if standin.fault == "drop_after" and function == standin.drop_function:
                    self.connection.shutdown(socket.SHUT_RDWR)  # the work is done, the answer never arrives
                    return
                self.reply(200, json.dumps(document).encode())

            def reply(self, status: int, body: bytes, content_type: str = "application/json") -> None:
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", content_type)
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except OSError:
                    pass

        return Server(("127.0.0.1", 0), Handler)

    # --- WHM API 1 ------------------------------------------------------------------------------------------

    def dispatch(self, function: str, params: dict[str, str]) -> dict[str, object]:
        metadata: dict[str, object] = {"command": function, "version": 1}
        with self.lock:
            try:
                if params.get("api.version") != "1":
                    raise _Refused("This stand-in speaks WHM API 1 only: send api.version=1.")
                if function in self.refusals:
                    raise _Refused(self.refusals.pop(function))
                handler = getattr(self, f"whm_{function}", None)
                if handler is None:
                    raise _Refused(f"Unknown app (“{function}”) requested for this version (1) of the API.")
                data, reason = handler(params)
            except _Refused as refused:
                return {"metadata": {**metadata, "result": 0, "reason": str(refused)}}
        document: dict[str, object] = {"metadata": {**metadata, "result": 1, "reason": reason}}
        if data is not None:
            document["data"] = data
        return document

    def _account(self, user: str) -> Account:
        if not user:
            raise _Refused("No user was given.")
        account = self.accounts.get(user)
        if account is None:
            raise _Refused(f"The user “{user}” does not exist.")
        return account

    def whm_version(self, params):
        return {"version": WHM_VERSION}, "OK"

    def whm_listaccts(self, params):
        accounts = [account.summary(self.packages) for account in self.accounts.values()]
        search, kind = params.get("search"), params.get("searchtype")
        if search is not None and kind:
            field_name = {"user": "user", "domain": "domain", "package": "plan", "owner": "owner"}.get(kind, "user")
            if params.get("searchmethod") == "exact":
                accounts = [account for account in accounts if account[field_name] == search]
            else:
                accounts = [account for account in accounts if re.search(search, str(account[field_name]))]
        if params.get("want"):
            wanted = set(params["want"].split(","))
            accounts = [{key: value for key, value in account.items() if key in wanted} for account in accounts]
        if params.get("api.chunk.enable") == "1":
            accounts = accounts[: int(params.get("api.chunk.size") or 1)]
        return {"acct": accounts}, "OK"

    def whm_accountsummary(self, params):
        return {"acct": [self._account(params.get("user", "")).summary(self.packages)]}, "OK"

    def whm_createacct(self, params):
        user = params.get("username", "")
        domain = params.get("domain", "").lower()
        plan = params.get("plan", "")
        password = params.get("password", "")
        if not user:
            raise _Refused("You must specify a username.")
        if not USERNAME_RULE.fullmatch(user):
            raise _Refused(f"Invalid username “{user}”: use lowercase letters and digits, at most 16 characters.")
        if user in RESERVED:
            raise _Refused(f"The username “{user}” is reserved by the system.")
        if user in self.accounts:
            raise _Refused(f"Sorry, a passwd entry for “{user}” already exists.")
        clash = next((name for name in self.accounts if name[:8] == user[:8]), None)
        if clash:
            raise _Refused(f"The first eight characters of “{user}” match the existing user “{clash}”.")
        if not DOMAIN_RULE.fullmatch(domain):
            raise _Refused(f"“{domain}” is not a valid domain.")
        if any(account.domain == domain for account in self.accounts.values()):
            raise _Refused(f"The domain “{domain}” already exists in the userdata.")
        if plan not in self.packages:
            raise _Refused(f"The package “{plan}” does not exist.")
        if len(password) < 8:
            raise _Refused("The password is too weak.")
        self.accounts[user] = Account(
            user=user,
            domain=domain,
            plan=plan,
            password=password,
            email=params.get("contactemail", ""),
            dedicated_ip=params.get("ip") == "y",
        )
        data = {
            "ip": "192.0.2.20" if params.get("ip") == "y" else "192.0.2.10",
            "nameserver": "ns1.standin.test",
            "nameserver2": "ns2.standin.test",
            "package": plan,
        }
        return data, "Account Creation Ok"

    def whm_suspendacct(self, params):
        account = self._account(params.get("user", ""))
        account.suspended, account.suspend_reason = True, params.get("reason", "Unknown")
        return None, "OK"

    def whm_unsuspendacct(self, params):
        account = self._account(params.get("user", ""))
        account.suspended, account.suspend_reason = False, ""
        return None, "OK"

    def whm_removeacct(self, params):
        user = params.get("username") or params.get("user", "")
        self._account(user)
        del self.accounts[user]
        return None, "OK"

    def whm_changepackage(self, params):
        account = self._account(params.get("user", ""))
        if params.get("pkg") not in self.packages:
            raise _Refused(f"The package “{params.get('pkg', '')}” does not exist.")
        account.plan = params["pkg"]
        return None, "OK"

    def whm_passwd(self, params):
        account = self._account(params.get("user", ""))
        if len(params.get("password", "")) < 8:
            raise _Refused("The password is too weak.")
        account.password = params["password"]
        return {"app": ["system", "ftp", "mail"]}, f"Password changed for user “{account.user}”."

    def whm_create_user_session(self, params):
        account = self._account(params.get("user", ""))
        session = secrets.token_hex(8)
        return {
            "url": f"https://localhost:2083/cpsess{session}/login/?session={account.user}:{session}",
            "session": f"{account.user}:{session}",
            "service": params.get("service", "cpaneld"),
        }, "OK"
