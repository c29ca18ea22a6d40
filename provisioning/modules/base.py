"""The module interface: what the portal hands a provisioning module, and what it gets back.

A module drives one kind of server (a PostgreSQL host, a PowerDNS API, a WHM panel, a person doing it by hand).
It never touches the portal's database: each call gets a `ModuleContext` of plain values (the service's snapshot,
the server with its decrypted credentials, the product's module settings, the idempotency key and the action's
own parameters) and returns a typed result, or raises `ModuleError` marked transient (worth retrying: the server
did not answer, a lock timed out) or permanent (retrying changes nothing: the name belongs to someone else, the
credentials are wrong), with a message an admin can act on.

Every action must be idempotent for the same service: the queue may deliver a call again after a worker died
inside it (acks_late), so a second `create` finds the account it made (tagged with the service) and succeeds,
a second `terminate` of an account that is gone succeeds, and so on.

Names that reach a server (usernames, database and zone names) are checked with `Module.check_name` against the
server's rules and are only ever passed as quoted identifiers or parameters, never formatted into SQL, URLs or
commands.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass, field
from typing import Any, ClassVar


class Action(enum.StrEnum):
    CREATE = "create"
    SUSPEND = "suspend"
    UNSUSPEND = "unsuspend"
    TERMINATE = "terminate"
    RENEW = "renew"
    CHANGE_PACKAGE = "change_package"
    CHANGE_PASSWORD = "change_password"
    TEST_CONNECTION = "test_connection"
    # Optional: a module lists the ones it supports in Module.optional_actions.
    USAGE = "usage"
    SSO_LINK = "sso_link"
    LIST_ACCOUNTS = "list_accounts"

    @property
    def event_suffix(self) -> str:
        """CamelCase for the event names: PreModuleChangePackage, AfterModuleChangePackageFailed."""
        return "".join(part.capitalize() for part in self.value.split("_"))


REQUIRED_ACTIONS = frozenset(
    {
        Action.CREATE,
        Action.SUSPEND,
        Action.UNSUSPEND,
        Action.TERMINATE,
        Action.RENEW,
        Action.CHANGE_PACKAGE,
        Action.CHANGE_PASSWORD,
        Action.TEST_CONNECTION,
    }
)
OPTIONAL_ACTIONS = frozenset({Action.USAGE, Action.SSO_LINK, Action.LIST_ACCOUNTS})


# --- Errors -------------------------------------------------------------------------------------------------


class ModuleError(Exception):
    """A module call that did not do what it was asked. `transient`: the queue retries it with backoff; permanent:
    it waits in the admin's queue at once. The message is shown to admins as is: say what to do about it, and
    never put a secret in it."""

    transient: bool = False

    def __init__(self, message: str, *, transient: bool | None = None):
        super().__init__(message)
        self.message = message
        if transient is not None:
            self.transient = transient


class TransientModuleError(ModuleError):
    transient = True


class PermanentModuleError(ModuleError):
    transient = False


class NotSupported(PermanentModuleError):
    """The module has no such action (an optional one it does not offer)."""


# --- Declared settings ----------------------------------------------------------------------------------------


class SettingType(enum.StrEnum):
    TEXT = "text"
    INTEGER = "integer"
    BOOLEAN = "boolean"
    CHOICE = "choice"
    SECRET = "secret"  # stored encrypted, never rendered back (server settings only)
    LINES = "lines"  # one value per line, e.g. a zone's default records


@dataclass(frozen=True)
class Setting:
    """One setting a module declares for its products or its servers; the admin builds and validates the form
    from these (provisioning.module_forms)."""

    name: str
    label: str
    type: SettingType = SettingType.TEXT
    default: Any = None
    help: str = ""
    required: bool = False
    choices: tuple[tuple[str, str], ...] = ()
    min_value: int | None = None
    max_value: int | None = None
    max_length: int = 255


class SettingsInvalid(ValueError):
    """Settings that do not match their declaration: {setting name: message}."""

    def __init__(self, errors: dict[str, str]):
        super().__init__("; ".join(f"{name}: {message}" for name, message in errors.items()))
        self.errors = errors


def settings_clean(declared: tuple[Setting, ...], values: dict[str, Any]) -> dict[str, Any]:
    """Values checked and typed against their declaration, defaults filled in; unknown names are dropped.
    Raises SettingsInvalid naming every setting that is wrong."""
    cleaned: dict[str, Any] = {}
    errors: dict[str, str] = {}
    for setting in declared:
        raw = values.get(setting.name)
        if raw is None or raw == "":
            if setting.required and setting.default in (None, ""):
                errors[setting.name] = "This setting is required."
                continue
            raw = setting.default
            if raw is None:
                cleaned[setting.name] = "" if setting.type not in (SettingType.INTEGER, SettingType.BOOLEAN) else None
                continue
        try:
            cleaned[setting.name] = _typed(setting, raw)
        except ValueError as error:
            errors[setting.name] = str(error)
    if errors:
        raise SettingsInvalid(errors)
    return cleaned


def _typed(setting: Setting, raw: Any) -> Any:
    if setting.type is SettingType.INTEGER:
        if isinstance(raw, bool):
            raise ValueError("Enter a whole number.")
        try:
            value = int(str(raw).strip())
        except ValueError:
            raise ValueError("Enter a whole number.") from None
        if setting.min_value is not None and value < setting.min_value:
            raise ValueError(f"Must be at least {setting.min_value}.")
        if setting.max_value is not None and value > setting.max_value:
            raise ValueError(f"Must be at most {setting.max_value}.")
        return value
    if setting.type is SettingType.BOOLEAN:
        if isinstance(raw, bool):
            return raw
        if str(raw).strip().lower() in ("1", "true", "yes", "on"):
            return True
        if str(raw).strip().lower() in ("0", "false", "no", "off", ""):
            return False
        raise ValueError("Enter yes or no.")
    text = str(raw)
    if any(ord(char) < 32 and char not in "\n\r\t" for char in text) or "\x7f" in text:
        raise ValueError("Control characters are not allowed.")
    if setting.type is SettingType.LINES:
        return "\n".join(line.strip() for line in text.splitlines() if line.strip())
    text = text.strip()
    if "\n" in text or "\r" in text:
        raise ValueError("Enter a single line.")
    if len(text) > setting.max_length:
        raise ValueError(f"At most {setting.max_length} characters.")
    if setting.type is SettingType.CHOICE and text not in {value for value, _label in setting.choices}:
        raise ValueError(f"Choose one of: {', '.join(value for value, _label in setting.choices)}.")
    return text


# --- What a call gets ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ServiceSnapshot:
    """The service as the module sees it. `username` and `password` are the account's (the password decrypted);
    `account` holds what an earlier create returned (AccountDetails.extra), e.g. a database or zone name."""

    service_id: int
    client_id: int
    product_name: str
    domain: str = ""
    username: str = ""
    password: str = ""
    client_email: str = ""
    account: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ServerInfo:
    """A server with its decrypted credentials and its module's server settings."""

    id: int
    name: str
    hostname: str
    ip_address: str = ""
    port: int | None = None
    secure: bool = True
    username: str = ""
    credentials: dict[str, str] = field(default_factory=dict)  # e.g. {"password": ...} or {"api_token": ...}
    settings: dict[str, Any] = field(default_factory=dict)

    @property
    def address(self) -> str:
        return self.ip_address or self.hostname


@dataclass(frozen=True)
class ModuleContext:
    """One call. `params` are the action's own: suspend {"reason": ...}, change_password {"password": ...},
    change_package {"settings": the new product settings}. `idempotency_key` is the queue's unique key for this
    call: the same on every attempt, so a server that supports it can deduplicate."""

    action: Action
    service: ServiceSnapshot | None
    server: ServerInfo | None
    product_settings: dict[str, Any] = field(default_factory=dict)
    idempotency_key: str = ""
    params: dict[str, Any] = field(default_factory=dict)


# --- What a call returns --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AccountDetails:
    """What create returns: how the client connects. `extra` is kept on the service and handed back to later
    calls as ServiceSnapshot.account (strings only, e.g. {"database": "svc_12"}). `password` is the account's
    password when the module chose or changed it; the portal stores it encrypted."""

    username: str
    password: str = ""
    host: str = ""
    port: int | None = None
    extra: dict[str, str] = field(default_factory=dict)
    message: str = ""
    found_existing: bool = False  # a repeated create found the account it had made
    todo: str = ""  # what a person must still do on the server: the queue files it as an admin to-do


@dataclass(frozen=True)
class Done:
    """An action that changed something (or found it already changed: `already`)."""

    message: str = ""
    already: bool = False
    extra: dict[str, str] = field(default_factory=dict)  # replaces keys of the service's account details
    todo: str = ""  # what a person must still do on the server: the queue files it as an admin to-do


@dataclass(frozen=True)
class Usage:
    """Figures for the service page: {"disk_bytes": 8_200_000} or {"records": 12}, with limits where known."""

    figures: dict[str, int]
    limits: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class ConnectionOk:
    message: str


@dataclass(frozen=True)
class SignOnLink:
    url: str


@dataclass(frozen=True)
class RemoteAccount:
    """An account found on a server. `service_id` is the portal's tag on it when the module can read one."""

    username: str
    service_id: int | None = None
    domain: str = ""


@dataclass(frozen=True)
class AccountList:
    accounts: tuple[RemoteAccount, ...]


Result = AccountDetails | Done | Usage | ConnectionOk | SignOnLink | AccountList


# --- The module ---------------------------------------------------------------------------------------------


USERNAME_RULE = re.compile(r"^[a-z][a-z0-9_]{0,15}$")


class Module:
    """Subclass, set `name`, `label` and the declarations, implement the actions, and register the class with
    `provisioning.modules.registry.register`. The required actions raise NotSupported until implemented."""

    name: ClassVar[str] = ""
    label: ClassVar[str] = ""
    # False for modules that need no server (Manual).
    needs_server: ClassVar[bool] = True
    product_settings: ClassVar[tuple[Setting, ...]] = ()
    server_settings: ClassVar[tuple[Setting, ...]] = ()
    # Which credential keys a server of this module holds ("password", "api_token", ...): the admin form offers
    # one secret field for each, encrypted at rest and never rendered back.
    credential_fields: ClassVar[tuple[Setting, ...]] = ()
    optional_actions: ClassVar[frozenset[Action]] = frozenset()
    # The default port when a server names none.
    default_port: ClassVar[int | None] = None
    # What an account name on this module's servers may look like, and its message when it does not.
    username_rule: ClassVar[re.Pattern[str]] = USERNAME_RULE
    username_rule_text: ClassVar[str] = (
        "1 to 16 characters: a lowercase letter, then lowercase letters, digits or underscores"
    )

    def supports(self, action: Action) -> bool:
        return action in REQUIRED_ACTIONS or action in self.optional_actions

    def check_name(self, name: str, *, what: str = "username") -> str:
        """The name if the server's rules allow it; PermanentModuleError naming the rule otherwise."""
        if not isinstance(name, str) or not self.username_rule.fullmatch(name):
            raise PermanentModuleError(f"The {what} {name!r} is not allowed here: {self.username_rule_text}.")
        return name

    def suggest_username(self, service: ServiceSnapshot) -> str:
        """A name for a new account: the domain's first label (letters and digits, at most 8) and the service id,
        e.g. "example42"; "svc42" without a domain. The queue checks it against check_name."""
        label = service.domain.split(".")[0].lower() if service.domain else ""
        base = re.sub(r"[^a-z0-9]", "", label)[:8]
        if not base or not base[0].isalpha():
            base = "svc"
        return f"{base}{service.service_id}"[:16]

    def call(self, context: ModuleContext) -> Result:
        """Run the context's action."""
        if not self.supports(context.action):
            raise NotSupported(f"The {self.label} module does not offer {context.action.value.replace('_', ' ')}.")
        return getattr(self, context.action.value)(context)

    # Required actions ---------------------------------------------------------------------------------------

    def create(self, context: ModuleContext) -> AccountDetails:
        raise NotSupported(f"The {self.label} module does not create accounts.")

    def suspend(self, context: ModuleContext) -> Done:
        raise NotSupported(f"The {self.label} module does not suspend accounts.")

    def unsuspend(self, context: ModuleContext) -> Done:
        raise NotSupported(f"The {self.label} module does not unsuspend accounts.")

    def terminate(self, context: ModuleContext) -> Done:
        raise NotSupported(f"The {self.label} module does not terminate accounts.")

    def renew(self, context: ModuleContext) -> Done:
        """Most servers need nothing on renewal: the account simply stays."""
        return Done("Nothing to do on the server for a renewal.", already=True)

    def change_package(self, context: ModuleContext) -> Done:
        raise NotSupported(f"The {self.label} module does not change packages.")

    def change_password(self, context: ModuleContext) -> Done:
        raise NotSupported(f"The {self.label} module does not change passwords.")

    def test_connection(self, context: ModuleContext) -> ConnectionOk:
        raise NotSupported(f"The {self.label} module cannot test its connection.")

    # Optional actions ---------------------------------------------------------------------------------------

    def usage(self, context: ModuleContext) -> Usage:
        raise NotSupported(f"The {self.label} module does not report usage.")

    def sso_link(self, context: ModuleContext) -> SignOnLink:
        raise NotSupported(f"The {self.label} module has no single sign-on.")

    def list_accounts(self, context: ModuleContext) -> AccountList:
        raise NotSupported(f"The {self.label} module cannot list accounts.")


# Keys whose values never reach a log, an excerpt or the admin (provisioning.redaction).
SECRET_KEYS = frozenset({"password", "pass", "passwd", "api_token", "token", "secret", "authorization", "key"})


def redact(value: Any, *, secrets: tuple[str, ...] = ()) -> Any:
    """A copy of a request or response excerpt with every secret value replaced by "***": values under a
    secret-looking key, and any of `secrets` (the call's passwords and tokens) wherever they appear in text."""
    if isinstance(value, dict):
        return {
            key: "***" if str(key).lower() in SECRET_KEYS else redact(item, secrets=secrets)
            for key, item in value.items()
        }
    if isinstance(value, list | tuple):
        return [redact(item, secrets=secrets) for item in value]
    if isinstance(value, str):
        for secret in secrets:
            if secret and len(secret) >= 4:
                value = value.replace(secret, "***")
        return value
    return value
