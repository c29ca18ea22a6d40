"""cPanel/WHM: hosting accounts made and managed through WHM API 1 over HTTPS with an API token.

Every call is `POST /json-api/<function>?api.version=1` on the panel (port 2087 by default) with the header
`Authorization: whm USER:TOKEN`. The function's parameters travel URL-encoded (urllib.parse.urlencode) in the form
body, never in the URL: a password in a query string would land in the panel's access log and in any error that
quotes the URL. WHM answers `{"metadata": {"result": 1|0, "reason": ...}, "data": {...}}`; result 0 is WHM saying
no, and its reason is what the admin sees.

The panel's certificate is checked against the public CAs (certifi), or, when the server's settings pin a SHA-256
fingerprint (a panel with its own self-signed certificate, as most fresh WHM installs have), against that pin
alone.

Idempotency: a create whose createacct fails looks the username up. The account exists with this service's domain:
an earlier attempt made it (its answer was lost, the worker died), so it is found and its password set to the one
returned. It exists with another domain: the name belongs to someone else, a permanent error naming it. Terminate,
suspend and the other account actions first look the account up, refuse an account that serves another domain,
and a terminate of an account that is gone succeeds as already done.
"""

from __future__ import annotations

import json
import re
import secrets
import string
from typing import Any
from urllib.parse import urlencode

import urllib3
from django.conf import settings
from django.core.exceptions import ValidationError

from core.domain_names import normalize_domain_name
from provisioning.modules.base import (
    AccountDetails,
    AccountList,
    Action,
    ConnectionOk,
    Done,
    Module,
    ModuleContext,
    ModuleError,
    PermanentModuleError,
    RemoteAccount,
    ServerInfo,
    ServiceSnapshot,
    Setting,
    SettingType,
    SignOnLink,
    TransientModuleError,
    Usage,
    redact,
)
from provisioning.modules.registry import register

CPANEL_LOGIN_PORT = 2083  # where the client logs in to cPanel (WHM is 2087)
MAX_ANSWER_BYTES = 8 * 1024 * 1024  # listaccts of a full server, with `want` narrowing it, stays far below
MIB = 1024 * 1024

# cPanel's documented rule: lowercase letters and digits, at most 16, not starting with a digit or "test", not
# ending in "assword". (Reserved names such as "root" depend on the server's /etc/aliases: WHM refuses those.)
CPANEL_USERNAME = re.compile(r"(?!test)[a-z][a-z0-9]{0,15}(?<!assword)")
# A WHM hosting plan: letters, digits, spaces, dots, hyphens and underscores, starting with a letter or digit.
# Plans are files on the panel, so nothing that could read as a path ("../", "/") or a shell word gets through.
PACKAGE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9 _.\-]{0,63}")
WHM_USER = re.compile(r"[a-z][a-z0-9_\-]{0,31}")
API_TOKEN = re.compile(r"[A-Za-z0-9]{16,128}")
SHA256_HEX = re.compile(r"[0-9a-f]{64}")
# WHM's reasons for "not now": another process holds the account's lock, the server is busy. The same call later
# succeeds, so these retry; any other refusal (a bad name, a missing plan) would only fail again and waits for an
# admin at once.
TEMPORARY_REASON = re.compile(r"\block\b|\blocked\b|try again|temporarily|in progress|timed? ?out", re.IGNORECASE)
DISK_FIGURE = re.compile(r"(\d+(?:\.\d+)?)\s*([KMGT]?)B?", re.IGNORECASE)
DISK_UNITS = {"": MIB, "K": 1024, "M": MIB, "G": 1024 * MIB, "T": 1024 * 1024 * MIB}  # WHM's bare figure is MiB
PASSWORD_SYMBOLS = "-_.!@#%^&*+=?"
PASSWORD_LENGTH = 20


class _Whm:
    """One action's conversation with a panel: a connection pool pinned or CA-verified, closed at the end."""

    def __init__(self, server: ServerInfo) -> None:
        if not server.secure:
            raise PermanentModuleError(
                f"Server {server.name}: WHM API tokens are only sent over HTTPS; tick 'secure' on the server."
            )
        self.server = server
        self.user = server.username or "root"
        if not WHM_USER.fullmatch(self.user):
            raise PermanentModuleError(f"Server {server.name}: {self.user!r} is not a WHM user name.")
        token = str(server.credentials.get("api_token") or "")
        if not token:
            raise PermanentModuleError(f"Server {server.name} has no WHM API token: enter one on the server.")
        if not API_TOKEN.fullmatch(token):
            raise PermanentModuleError(
                f"Server {server.name}: the WHM API token is not in WHM's form (letters and digits): enter it again."
            )
        self.token = token
        self.port = server.port or CpanelModule.default_port
        self.timeout = float(settings.PORTAL_MODULE_TIMEOUT_SECONDS)
        self.fingerprint = _pinned_fingerprint(server)
        host = server.hostname or server.address
        self.host_header = (f"[{host}]" if ":" in host else host) + f":{self.port}"
        options: dict[str, Any] = {
            "timeout": urllib3.Timeout(connect=self.timeout, read=self.timeout),
            "retries": False,  # the queue retries, with backoff, and records each attempt
            "maxsize": 1,
            "server_hostname": host,
        }
        if self.fingerprint:
            # The pin replaces CA verification: a self-signed panel certificate is trusted only if it is this one.
            options.update(cert_reqs="CERT_NONE", assert_hostname=False, assert_fingerprint=self.fingerprint)
        else:
            import certifi

            options.update(cert_reqs="CERT_REQUIRED", ca_certs=certifi.where(), assert_hostname=host)
        self.pool = urllib3.HTTPSConnectionPool(server.address, self.port, **options)

    def __enter__(self) -> _Whm:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.pool.close()

    @property
    def where(self) -> str:
        return f"WHM on {self.server.name} ({self.server.address}:{self.port})"

    def call(self, function: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        """The `data` of WHM's answer to `function`, or a ModuleError saying what went wrong."""
        answer = self.answer(function, params)
        metadata = answer["metadata"]
        if str(metadata.get("result")) != "1":
            # A reason that quotes a value back must not show the password it was sent.
            secrets_sent = tuple(str(value) for key, value in (params or {}).items() if key == "password")
            reason = redact(_one_line(metadata.get("reason")), secrets=(*secrets_sent, self.token)) or "no reason given"
            refusal = WhmRefusedForNow if TEMPORARY_REASON.search(reason) else WhmRefusedFinally
            raise refusal(f"{self.where} refused {function}: {reason}", reason=reason)
        data = answer.get("data")
        return data if isinstance(data, dict) else {}

    def answer(self, function: str, params: dict[str, Any] | None) -> dict[str, Any]:
        if not re.fullmatch(r"[a-z_]+", function):  # our own constants; a guard against ever formatting input in
            raise ValueError(f"not a WHM function name: {function!r}")
        body = urlencode({key: str(value) for key, value in (params or {}).items()})
        try:
            response = self.pool.urlopen(
                "POST",
                f"/json-api/{function}?{urlencode({'api.version': 1})}",
                body=body,
                headers={
                    "Host": self.host_header,
                    "Authorization": f"whm {self.user}:{self.token}",
                    "Content-Type": "application/x-www-form-urlencoded",
                    "Accept": "application/json",
                },
                redirect=False,
                preload_content=False,
                assert_same_host=False,
            )
        except urllib3.exceptions.SSLError as error:
            raise self._tls_error(error) from None
        except urllib3.exceptions.NewConnectionError as error:
            raise TransientModuleError(f"Could not connect to {self.where}: {_cause(error)}.") from None
        except urllib3.exceptions.TimeoutError:
            raise TransientModuleError(f"{self.where} did not answer {function} within {self.timeout:g} s.") from None
        except (urllib3.exceptions.HTTPError, OSError) as error:
            raise TransientModuleError(
                f"The connection to {self.where} failed during {function}: {_cause(error)}."
            ) from None
        try:
            raw = response.read(MAX_ANSWER_BYTES + 1)
        except urllib3.exceptions.TimeoutError:
            raise TransientModuleError(
                f"{self.where} stopped answering {function} (no data for {self.timeout:g} s)."
            ) from None
        except (urllib3.exceptions.HTTPError, OSError) as error:
            raise TransientModuleError(
                f"The connection to {self.where} broke while it answered {function}: {_cause(error)}."
            ) from None
        finally:
            response.release_conn()
            response.close()
        return self._decoded(function, response.status, raw)

    def _decoded(self, function: str, status: int, raw: bytes) -> dict[str, Any]:
        if status in (401, 403):
            raise PermanentModuleError(
                f"{self.where} refused the API token for user {self.user} (HTTP {status}): check the token, "
                "that it has not expired, and that it may call account functions."
            )
        if status >= 500:
            raise TransientModuleError(f"{self.where} failed with HTTP {status} during {function}.")
        if status != 200:
            raise PermanentModuleError(
                f"{self.where} answered HTTP {status} to {function}: is port {self.port} the WHM port (2087)?"
            )
        if len(raw) > MAX_ANSWER_BYTES:
            raise PermanentModuleError(f"{self.where} sent more than {MAX_ANSWER_BYTES} bytes for {function}.")
        try:
            answer = json.loads(raw)
        except ValueError:
            answer = None
        if not isinstance(answer, dict) or not isinstance(answer.get("metadata"), dict):
            raise PermanentModuleError(
                f"{self.where} did not answer {function} in WHM API 1's JSON: is port {self.port} the WHM port?"
            )
        return answer

    def _tls_error(self, error: Exception) -> ModuleError:
        text = str(error)
        if "Fingerprints did not match" in text:
            return PermanentModuleError(
                f"The certificate of {self.where} does not match the pinned fingerprint: if the panel's certificate "
                "was renewed on purpose, pin the new one in the server's settings."
            )
        if "CERTIFICATE_VERIFY_FAILED" in text or "certificate verify failed" in text or "hostname" in text.lower():
            return PermanentModuleError(
                f"The certificate of {self.where} is not trusted ({_cause(error)}). If the panel uses a "
                "self-signed certificate, pin its SHA-256 fingerprint in the server's settings."
            )
        return TransientModuleError(f"The TLS handshake with {self.where} failed: {_cause(error)}.")

    # --- Account lookups ------------------------------------------------------------------------------------

    def account(self, username: str) -> dict[str, Any] | None:
        """The account named `username` as listaccts reports it, or None if the server has none."""
        data = self.call(
            "listaccts",
            {
                "search": username,
                "searchtype": "user",
                "searchmethod": "exact",
                "want": "user,domain,plan,suspended,ip",
            },
        )
        for account in data.get("acct") or []:
            if isinstance(account, dict) and account.get("user") == username:
                return account
        return None


class WhmRefused(ModuleError):
    """WHM answered with metadata.result = 0; `reason` is its own words."""

    def __init__(self, message: str, *, reason: str) -> None:
        super().__init__(message)
        self.reason = reason


class WhmRefusedForNow(WhmRefused, TransientModuleError):
    """A refusal whose reason says "not now" (a lock, a busy server): the queue retries it."""


class WhmRefusedFinally(WhmRefused, PermanentModuleError):
    """Any other refusal: the same call would fail again, so it waits for an admin."""


def _pinned_fingerprint(server: ServerInfo) -> str:
    raw = str(server.settings.get("certificate_fingerprint") or "").strip()
    if not raw:
        return ""
    fingerprint = re.sub(r"[\s:]", "", raw).lower()
    if fingerprint.startswith("sha256"):
        fingerprint = fingerprint.removeprefix("sha256").lstrip("=")
    if not SHA256_HEX.fullmatch(fingerprint):
        raise PermanentModuleError(
            f"Server {server.name}: the certificate fingerprint is not a SHA-256 fingerprint (64 hexadecimal "
            "digits, colons allowed), e.g. from `openssl x509 -noout -fingerprint -sha256`."
        )
    return fingerprint


def _cause(error: BaseException) -> str:
    """The innermost reason of a connection error, without urllib3's pool description."""
    reason = getattr(error, "reason", None) or error
    while getattr(reason, "__cause__", None) is not None:
        reason = reason.__cause__
    text = _one_line(str(reason)) or type(reason).__name__
    text = re.sub(r"^<[^>]+>:\s*", "", text)
    text = re.sub(r"^\w*ConnectionPool\([^)]*\):\s*", "", text)
    return text[:300]


def _one_line(value: Any) -> str:
    return re.sub(r"\s+", " ", str(value or "")).strip()[:500]


def _new_password() -> str:
    """A password WHM's strength check accepts: every class of character, from the system's CSPRNG."""
    alphabet = string.ascii_letters + string.digits + PASSWORD_SYMBOLS
    while True:
        password = "".join(secrets.choice(alphabet) for _ in range(PASSWORD_LENGTH))
        if (
            any(char.islower() for char in password)
            and any(char.isupper() for char in password)
            and any(char.isdigit() for char in password)
            and any(char in PASSWORD_SYMBOLS for char in password)
        ):
            return password


def _disk_bytes(figure: Any) -> int | None:
    """WHM's disk figures ("14M", "1.5G", "0"), in bytes; None for "unlimited" or anything else."""
    match = DISK_FIGURE.fullmatch(str(figure or "").strip())
    if not match:
        return None
    return int(float(match.group(1)) * DISK_UNITS[match.group(2).upper()])


@register
class CpanelModule(Module):
    name = "cpanel"
    label = "cPanel/WHM (WHM API 1 with an API token)"
    default_port = 2087
    optional_actions = frozenset({Action.USAGE, Action.LIST_ACCOUNTS, Action.SSO_LINK})
    username_rule = CPANEL_USERNAME
    username_rule_text = (
        "1 to 16 characters, lowercase letters and digits, starting with a letter; not starting with 'test' "
        "and not ending in 'assword' (cPanel's rule)"
    )
    credential_fields = (
        Setting(
            "api_token",
            "WHM API token",
            type=SettingType.SECRET,
            required=True,
            help="WHM > Development > Manage API Tokens, for the server's user (root or a reseller).",
        ),
    )
    server_settings = (
        Setting(
            "certificate_fingerprint",
            "Pinned certificate (SHA-256 fingerprint)",
            max_length=110,
            help="Only for a panel with a self-signed certificate: its SHA-256 fingerprint (64 hex digits, colons "
            "allowed). Set, the panel is trusted by this pin alone; empty, its certificate must be signed by a "
            "public CA.",
        ),
    )
    product_settings = (
        Setting(
            "package",
            "WHM package",
            required=True,
            max_length=64,
            help="The hosting plan on the panel, exactly as WHM names it (e.g. reseller_gold).",
        ),
        Setting(
            "contact_email",
            "Give WHM the client's email",
            type=SettingType.BOOLEAN,
            default=True,
            help="Set the client's email address as the account's contact address (WHM's notices go there).",
        ),
        Setting(
            "dedicated_ip",
            "Dedicated IP address",
            type=SettingType.BOOLEAN,
            default=False,
            help="Ask WHM for a dedicated IP from its pool instead of the shared one.",
        ),
    )

    def suggest_username(self, service: ServiceSnapshot) -> str:
        """Letters of the domain's first label, then the service id, e.g. "exampl42". cPanel needs the first eight
        characters unique when database prefixing is on, so the id stays within them: letters then digits split
        one way only, and the names of two services differ in their first eight characters while ids stay below
        ten million."""
        label = service.domain.split(".")[0].lower() if service.domain else ""
        letters = re.sub(r"[^a-z]", "", label)
        if not letters or letters.startswith("test"):
            letters = "cp"
        digits = str(service.service_id)
        return (letters[: max(1, 8 - len(digits))] + digits)[:16]

    # --- Required actions -----------------------------------------------------------------------------------

    def create(self, context: ModuleContext) -> AccountDetails:
        service, server = self._service(context), self._server(context)
        username = self.check_name(service.username or self.suggest_username(service))
        domain = _domain(service)
        package = _package(context.product_settings.get("package"))
        password = service.password or _new_password()
        params = {"username": username, "domain": domain, "plan": package, "password": password}
        if context.product_settings.get("contact_email", True) and service.client_email:
            params["contactemail"] = service.client_email
        if context.product_settings.get("dedicated_ip"):
            params["ip"] = "y"
        with _Whm(server) as whm:
            try:
                data = whm.call("createacct", params)
            except WhmRefused:
                # An earlier attempt may have made it (its answer lost): look before calling it a failure.
                existing = whm.account(username)
                if existing is None:
                    raise
                if str(existing.get("domain") or "").lower() != domain:
                    raise PermanentModuleError(
                        f"The username {username!r} is taken on {server.name}: it belongs to the account for "
                        f"{existing.get('domain') or 'another domain'}. Choose another username for this service."
                    ) from None
                whm.call("passwd", {"user": username, "password": password})
                return self._details(server, username, password, domain, package, existing, found=True)
        return self._details(server, username, password, domain, package, data, found=False)

    def suspend(self, context: ModuleContext) -> Done:
        reason = _one_line(context.params.get("reason")) or "Suspended by the billing portal"
        with _Whm(self._server(context)) as whm:
            username, account = self._own_account(whm, context)
            if str(account.get("suspended")) == "1":
                return Done(f"The cPanel account {username} was suspended already.", already=True)
            whm.call("suspendacct", {"user": username, "reason": reason})
        return Done(f"Suspended the cPanel account {username}.")

    def unsuspend(self, context: ModuleContext) -> Done:
        with _Whm(self._server(context)) as whm:
            username, account = self._own_account(whm, context)
            if str(account.get("suspended")) != "1":
                return Done(f"The cPanel account {username} was not suspended.", already=True)
            whm.call("unsuspendacct", {"user": username})
        return Done(f"Unsuspended the cPanel account {username}.")

    def terminate(self, context: ModuleContext) -> Done:
        service = self._service(context)
        if not service.username:
            return Done("No cPanel account is recorded for this service: nothing to remove.", already=True)
        with _Whm(self._server(context)) as whm:
            username, account = self._own_account(whm, context, missing_ok=True)
            if account is None:
                return Done(f"The cPanel account {username} is not on the server: nothing to remove.", already=True)
            try:
                whm.call("removeacct", {"username": username})
            except WhmRefused:
                if whm.account(username) is None:  # removed meanwhile, by a parallel attempt or an admin
                    return Done(f"The cPanel account {username} is gone from the server.", already=True)
                raise
        return Done(f"Removed the cPanel account {username} and its files from the server.")

    def change_package(self, context: ModuleContext) -> Done:
        new_settings = context.params.get("settings") or {}
        package = _package(new_settings.get("package"))
        with _Whm(self._server(context)) as whm:
            username, account = self._own_account(whm, context)
            if account.get("plan") == package:
                return Done(f"The cPanel account {username} is on the package {package} already.", already=True)
            whm.call("changepackage", {"user": username, "pkg": package})
        return Done(f"Moved the cPanel account {username} to the package {package}.", extra={"package": package})

    def change_password(self, context: ModuleContext) -> Done:
        password = context.params.get("password")
        if not isinstance(password, str) or not password:
            raise PermanentModuleError("No new password was given for the cPanel account.")
        with _Whm(self._server(context)) as whm:
            username, _account = self._own_account(whm, context)
            whm.call("passwd", {"user": username, "password": password})
        return Done(f"Set the new password of the cPanel account {username}.")

    def test_connection(self, context: ModuleContext) -> ConnectionOk:
        with _Whm(self._server(context)) as whm:
            version = _one_line(whm.call("version").get("version")) or "(version not reported)"
            whm.call("listaccts", {"want": "user", "api.chunk.enable": 1, "api.chunk.size": 1})
        return ConnectionOk(f"WHM {version} answered, and the token of {whm.user} may list accounts.")

    # --- Optional actions -----------------------------------------------------------------------------------

    def usage(self, context: ModuleContext) -> Usage:
        with _Whm(self._server(context)) as whm:
            username, _account = self._own_account(whm, context)
            accounts = whm.call("accountsummary", {"user": username}).get("acct") or []
        summary = accounts[0] if accounts and isinstance(accounts[0], dict) else {}
        used = _disk_bytes(summary.get("diskused"))
        if used is None:
            raise PermanentModuleError(
                f"WHM reported the disk use of {username} as {_one_line(summary.get('diskused'))!r}, not a figure."
            )
        limit = _disk_bytes(summary.get("disklimit"))  # "unlimited": no limit to show
        return Usage(figures={"disk_bytes": used}, limits={"disk_bytes": limit} if limit else {})

    def sso_link(self, context: ModuleContext) -> SignOnLink:
        with _Whm(self._server(context)) as whm:
            username, _account = self._own_account(whm, context)
            url = str(whm.call("create_user_session", {"user": username, "service": "cpaneld"}).get("url") or "")
        if not url.startswith("https://"):
            raise PermanentModuleError(f"WHM gave no HTTPS sign-on link for {username}.")
        return SignOnLink(url)

    def list_accounts(self, context: ModuleContext) -> AccountList:
        with _Whm(self._server(context)) as whm:
            accounts = whm.call("listaccts", {"want": "user,domain"}).get("acct") or []
        return AccountList(
            tuple(
                RemoteAccount(username=str(account.get("user")), domain=str(account.get("domain") or ""))
                for account in accounts
                if isinstance(account, dict) and account.get("user")
            )
        )

    # --- Helpers --------------------------------------------------------------------------------------------

    def _service(self, context: ModuleContext) -> ServiceSnapshot:
        if context.service is None:
            raise PermanentModuleError("This cPanel action needs a service.")
        return context.service

    def _server(self, context: ModuleContext) -> ServerInfo:
        if context.server is None:
            raise PermanentModuleError("The service has no cPanel server: assign one first.")
        return context.server

    def _own_account(
        self, whm: _Whm, context: ModuleContext, *, missing_ok: bool = False
    ) -> tuple[str, dict[str, Any] | None]:
        """The service's account on the server; refused if it serves another domain (never act on someone
        else's account because a username was mistyped). None when it is missing and `missing_ok`."""
        service = self._service(context)
        if not service.username:
            raise PermanentModuleError("No cPanel account is recorded for this service: run create first.")
        username = self.check_name(service.username)
        account = whm.account(username)
        if account is None:
            if missing_ok:
                return username, None
            raise PermanentModuleError(f"There is no cPanel account {username} on {whm.server.name}.")
        if service.domain and str(account.get("domain") or "").lower() != _domain(service):
            raise PermanentModuleError(
                f"The cPanel account {username} on {whm.server.name} serves {account.get('domain')!r}, not this "
                f"service's {service.domain!r}: nothing was changed. Check the service's username."
            )
        return username, account

    def _details(
        self,
        server: ServerInfo,
        username: str,
        password: str,
        domain: str,
        package: str,
        data: dict[str, Any],
        *,
        found: bool,
    ) -> AccountDetails:
        extra = {"domain": domain, "package": package}
        if data.get("ip"):
            extra["ip"] = _one_line(data["ip"])
        nameservers = [_one_line(data[key]) for key in sorted(data) if key.startswith("nameserver") and data[key]]
        if nameservers:
            extra["nameservers"] = ", ".join(nameservers)
        return AccountDetails(
            username=username,
            password=password,
            host=server.hostname or server.address,
            port=CPANEL_LOGIN_PORT,
            extra=extra,
            found_existing=found,
            message=(
                f"Found the cPanel account {username} made by an earlier attempt and set its password."
                if found
                else f"Created the cPanel account {username} for {domain} on {server.name}."
            ),
        )


def _domain(service: ServiceSnapshot) -> str:
    if not service.domain:
        raise PermanentModuleError("A cPanel account needs a domain: set the service's domain first.")
    try:
        return normalize_domain_name(service.domain)
    except ValidationError as error:
        raise PermanentModuleError(
            f"The service's domain cannot be used for a cPanel account: {error.messages[0]}"
        ) from None


def _package(value: Any) -> str:
    package = str(value or "").strip()
    if not package:
        raise PermanentModuleError("The product has no WHM package: set it in the product's module settings.")
    if not PACKAGE_NAME.fullmatch(package) or ".." in package:
        raise PermanentModuleError(
            f"The WHM package {package!r} is not allowed here: letters, digits, spaces, dots, hyphens and "
            "underscores, starting with a letter or digit."
        )
    return package
