"""DNS hosting on PowerDNS Authoritative, through its HTTP API (/api/v1, the key in X-API-Key).

A service's account is one zone, named after the service's domain (checked with core.domain_names), of kind
Native, tagged with the zone's `account` field "portal-service-<id>": that tag is how a repeated create finds the
zone it made, and how every other action refuses to touch a zone that is not the service's. The package's record
limit is kept in the zone's metadata (X-PORTAL-RECORD-LIMIT: PowerDNS stores custom kinds only with an X- prefix),
where DNS tooling next to the portal can read it.

Suspension disables the zone's records and keeps them, so unsuspension brings back the same ones. It leaves the
SOA and the zone's own NS records on: the zone stays served and answers "no such record" with authority for the
client's names (their web and mail stop resolving), and its SOA serial still moves, so secondaries pick up the
suspension too. Disabling the SOA as well would make PowerDNS refuse the whole zone, and secondaries could no
longer see the change and would keep answering with the old records.
"""

from __future__ import annotations

import ipaddress
import json
import re
from typing import Any
from urllib.parse import quote

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
from provisioning.modules.powerdns_records import RecordsInvalid, parse_default_records, rrsets_for
from provisioning.modules.registry import register

ACCOUNT_PREFIX = "portal-service-"
LIMIT_KIND = "X-PORTAL-RECORD-LIMIT"
MAX_ANSWER_BYTES = 16 * 1024 * 1024
_SERVER_ID = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
_HOSTNAME = re.compile(
    r"^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?$"
)


def account_tag(service_id: int) -> str:
    return f"{ACCOUNT_PREFIX}{service_id}"


def _short(text: str, limit: int = 300) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


class _Api:
    """One server's API, with the call's timeout; every error becomes a ModuleError an admin can act on."""

    def __init__(self, server: ServerInfo | None, server_settings: dict[str, Any]):
        if server is None:
            raise PermanentModuleError("The PowerDNS module needs a server: choose one for the service.")
        self.key = (server.credentials or {}).get("api_token") or ""
        if not self.key:
            raise PermanentModuleError(f"The server {server.name!r} has no API key: enter it on the server's page.")
        host = server.address
        try:
            literal = ipaddress.ip_address(host)
        except ValueError:
            if not _HOSTNAME.match(host or ""):
                raise PermanentModuleError(
                    f"The server's address {host!r} is not a host name or an IP address."
                ) from None
            netloc = host
        else:
            netloc = f"[{literal}]" if literal.version == 6 else str(literal)
        server_id = server_settings.get("server_id") or "localhost"
        if not _SERVER_ID.match(server_id):
            raise PermanentModuleError(
                f"The server id {server_id!r} is not allowed: letters, digits, dots, hyphens and underscores."
            )
        port = server.port or PowerDnsModule.default_port
        self.where = f"{host}:{port}"
        scheme = "https" if server.secure else "http"
        self.base = f"{scheme}://{netloc}:{port}/api/v1/servers/{quote(server_id, safe='')}"
        self.timeout = settings.PORTAL_MODULE_TIMEOUT_SECONDS
        self.pool = urllib3.PoolManager(timeout=urllib3.Timeout(connect=self.timeout, read=self.timeout), retries=False)

    def _message(self, text: str) -> str:
        return redact(text, secrets=(self.key,))

    def call(self, method: str, path: str = "", body: Any = None, *, allow: tuple[int, ...] = ()) -> tuple[int, Any]:
        """(status, parsed JSON or text) for a 2xx answer or one of `allow`; a ModuleError for anything else."""
        try:
            response = self.pool.request(
                method,
                self.base + path,
                body=json.dumps(body).encode() if body is not None else None,
                headers={"X-API-Key": self.key, "Accept": "application/json", "Content-Type": "application/json"},
                preload_content=False,
            )
            try:
                raw = response.read(MAX_ANSWER_BYTES + 1)
            finally:
                response.release_conn()
        except urllib3.exceptions.SSLError as error:
            raise PermanentModuleError(
                self._message(
                    f"TLS with the PowerDNS API at {self.where} failed ({_short(error, 160)}): check the server's "
                    '"use https" box and its certificate.'
                )
            ) from None
        except urllib3.exceptions.NewConnectionError as error:
            why = "connection refused" if isinstance(error.__cause__, ConnectionRefusedError) else _short(error, 160)
            raise TransientModuleError(f"Could not connect to the PowerDNS API at {self.where}: {why}.") from None
        except urllib3.exceptions.ConnectTimeoutError:
            raise TransientModuleError(
                f"Could not connect to the PowerDNS API at {self.where} within {self.timeout}s."
            ) from None
        except urllib3.exceptions.ReadTimeoutError:
            raise TransientModuleError(
                f"The PowerDNS API at {self.where} did not answer within {self.timeout}s."
            ) from None
        except urllib3.exceptions.HTTPError as error:
            raise TransientModuleError(
                self._message(f"The PowerDNS API at {self.where} broke off the answer: {_short(error, 160)}.")
            ) from None
        if len(raw) > MAX_ANSWER_BYTES:
            raise PermanentModuleError(f"The PowerDNS API at {self.where} answered with more than 16 MB.")
        text = raw.decode("utf-8", errors="replace")
        try:
            answer = json.loads(text) if text.strip() else None
        except ValueError:
            answer = text
        status = response.status
        if 200 <= status < 300 or status in allow:
            return status, answer
        said = answer.get("error") if isinstance(answer, dict) else answer
        said = self._message(_short(said)) if isinstance(said, str) and said.strip() else ""
        if status in (401, 403):
            raise PermanentModuleError(
                f"The PowerDNS API at {self.where} refused the key (HTTP {status}): check the server's API key."
            )
        if status >= 500:
            raise TransientModuleError(
                f"The PowerDNS API at {self.where} failed with HTTP {status}" + (f": {said}." if said else ".")
            )
        if status in (400, 422) and said:
            raise PermanentModuleError(f"PowerDNS refused the request (HTTP {status}): {said}")
        raise PermanentModuleError(
            f"The PowerDNS API at {self.where} answered HTTP {status} to {method} {path or '/'}"
            + (f": {said}." if said else ".")
        )

    # The calls ---------------------------------------------------------------------------------------------

    def zone(self, zone: str) -> dict | None:
        status, answer = self.call("GET", _zone_path(zone), allow=(404,))
        return answer if status != 404 and isinstance(answer, dict) else None

    def set_limit(self, zone: str, limit: int) -> None:
        self.call("PUT", _zone_path(zone, "metadata", LIMIT_KIND), {"kind": LIMIT_KIND, "metadata": [str(limit)]})

    def limit(self, zone: str) -> int | None:
        status, answer = self.call("GET", _zone_path(zone, "metadata", LIMIT_KIND), allow=(404, 422))
        values = answer.get("metadata") if status == 200 and isinstance(answer, dict) else None
        if values and str(values[0]).isdigit():
            return int(values[0])
        return None


def _zone_path(zone: str, *more: str) -> str:
    return "/zones/" + "/".join(quote(part, safe="") for part in (zone, *more))


def _client_rrsets(zone_data: dict, zone: str) -> list[dict]:
    """The zone's rrsets but its SOA and its own NS records: the records that are the client's."""
    return [
        rrset
        for rrset in zone_data.get("rrsets") or []
        if rrset.get("type") != "SOA" and not (rrset.get("type") == "NS" and rrset.get("name") == zone)
    ]


def _record_count(zone_data: dict, zone: str) -> int:
    return sum(len(rrset.get("records") or []) for rrset in _client_rrsets(zone_data, zone))


@register
class PowerDnsModule(Module):
    name = "powerdns"
    label = "DNS hosting (PowerDNS)"
    default_port = 8081
    optional_actions = frozenset({Action.USAGE, Action.LIST_ACCOUNTS})
    credential_fields = (
        Setting(
            "api_token",
            "API key",
            type=SettingType.SECRET,
            required=True,
            help="The server's api-key (sent as X-API-Key).",
        ),
    )
    server_settings = (
        Setting(
            "server_id",
            "Server id",
            default="localhost",
            max_length=64,
            help="The id in the API's paths (/api/v1/servers/<id>); PowerDNS Authoritative calls itself localhost.",
        ),
        Setting(
            "nameservers",
            "Nameservers",
            type=SettingType.LINES,
            help="One host name a line, e.g. ns1.example.net: the NS records of every new zone, and what clients "
            "point their domains at.",
        ),
    )
    product_settings = (
        Setting(
            "default_records",
            "Default records",
            type=SettingType.LINES,
            help='One record a line, "NAME TTL TYPE CONTENT" with @ for the zone: "@ 3600 A 192.0.2.10", '
            '"www 3600 CNAME @", "@ 3600 MX 10 mail.@". Types: A, AAAA, CNAME, MX, TXT, SRV, CAA.',
        ),
        Setting(
            "record_limit",
            "Record limit",
            type=SettingType.INTEGER,
            default=100,
            min_value=1,
            max_value=10000,
            help="How many records a zone of this product may hold (its SOA and NS records not counted).",
        ),
    )
    username_rule_text = "a domain name such as example.com (letters, digits and hyphens; IDNs as punycode)"

    # Names --------------------------------------------------------------------------------------------------

    def check_name(self, name: str, *, what: str = "zone name") -> str:
        """The zone's name, normalised (lower-case ASCII, no trailing dot), if it is a domain name; refused with
        the reason otherwise, before any request."""
        if not isinstance(name, str) or not name.strip():
            raise PermanentModuleError(f"The {what} is empty: the service needs a domain for its zone.")
        try:
            return normalize_domain_name(name)
        except ValidationError as error:
            raise PermanentModuleError(f"The {what} {name!r} is not allowed here: {error.messages[0]}") from None

    def suggest_username(self, service: ServiceSnapshot) -> str:
        return (service.domain or "").strip().lower().rstrip(".")

    def _zone(self, context: ModuleContext) -> tuple[str, str]:
        """(the zone's name with its trailing dot, the service's tag) of the call's service."""
        service = context.service
        if service is None:
            raise PermanentModuleError("The PowerDNS module needs a service to act on.")
        name = (service.account or {}).get("zone") or service.domain
        return self.check_name(name) + ".", account_tag(service.service_id)

    # Settings -----------------------------------------------------------------------------------------------

    @classmethod
    def product_settings_clean(cls, values: dict[str, Any]) -> dict[str, Any]:
        """settings_clean, and the default records' format: SettingsInvalid names what is wrong, for the
        product's form as for a call."""
        cleaned = settings_clean(cls.product_settings, values or {})
        try:
            records = parse_default_records(cleaned["default_records"])
        except RecordsInvalid as error:
            raise SettingsInvalid({"default_records": str(error)}) from None
        if len(records) > cleaned["record_limit"]:
            raise SettingsInvalid(
                {"default_records": f"{len(records)} records, more than the record limit of {cleaned['record_limit']}"}
            )
        return cleaned

    def _product(self, values: dict[str, Any]) -> dict[str, Any]:
        try:
            return self.product_settings_clean(values)
        except SettingsInvalid as error:
            raise PermanentModuleError(f"The product's DNS settings are wrong: {error}.") from None

    def _server(self, context: ModuleContext) -> tuple[_Api, list[str]]:
        try:
            server_settings = settings_clean(self.server_settings, context.server.settings if context.server else {})
        except SettingsInvalid as error:
            raise PermanentModuleError(f"The server's PowerDNS settings are wrong: {error}.") from None
        nameservers = []
        for line in server_settings["nameservers"].splitlines():
            try:
                nameservers.append(normalize_domain_name(line) + ".")
            except ValidationError as error:
                raise PermanentModuleError(f"The server's nameserver {line!r} is wrong: {error.messages[0]}") from None
        return _Api(context.server, server_settings), nameservers

    def _owned(self, api: _Api, zone: str, tag: str) -> dict | None:
        """The zone if it is the service's; None if the server has no such zone; refused if someone else's."""
        zone_data = api.zone(zone)
        if zone_data is not None and zone_data.get("account") != tag:
            holder = zone_data.get("account") or ""
            held_by = f"the account {holder!r}" if holder else "no portal service (it has no account tag)"
            raise PermanentModuleError(
                f"The zone {zone[:-1]} is taken: it is on this server for {held_by}, not service {tag}."
            )
        return zone_data

    # Actions ------------------------------------------------------------------------------------------------

    def create(self, context: ModuleContext) -> AccountDetails:
        zone, tag = self._zone(context)
        product = self._product(context.product_settings)
        records = parse_default_records(product["default_records"])
        api, nameservers = self._server(context)
        found = self._owned(api, zone, tag)
        if found is None:
            status, _ = api.call(
                "POST",
                "/zones",
                {
                    "name": zone,
                    "kind": "Native",
                    "account": tag,
                    "nameservers": nameservers,
                    "rrsets": [{**rrset, "changetype": "REPLACE"} for rrset in rrsets_for(records, zone)],
                },
                allow=(409,),
            )
            if status == 409:  # made between our look and our POST: by an earlier attempt, or taken by another
                found = self._owned(api, zone, tag)
                if found is None:
                    raise TransientModuleError(f"PowerDNS says the zone {zone[:-1]} exists but does not show it.")
        # Also on a repeated create: an attempt that died after the POST may not have set it.
        api.set_limit(zone, product["record_limit"])
        host = nameservers[0][:-1] if nameservers else (context.server.hostname if context.server else "")
        if found is not None:
            message = f"Found the zone {zone[:-1]} made for this service earlier."
        else:
            message = f"Created the zone {zone[:-1]} with {len(records)} default records."
        return AccountDetails(
            username=zone[:-1],
            host=host,
            extra={"zone": zone[:-1]},
            message=message,
            found_existing=found is not None,
        )

    def _switch(self, context: ModuleContext, *, disabled: bool) -> Done:
        zone, tag = self._zone(context)
        api, _ = self._server(context)
        zone_data = self._owned(api, zone, tag)
        if zone_data is None:
            raise PermanentModuleError(f"The zone {zone[:-1]} is not on this server.")
        changes = [
            {
                "name": rrset["name"],
                "type": rrset["type"],
                "ttl": rrset["ttl"],
                "changetype": "REPLACE",
                "records": [{"content": record["content"], "disabled": disabled} for record in rrset["records"]],
            }
            for rrset in _client_rrsets(zone_data, zone)
            if any(bool(record.get("disabled")) != disabled for record in rrset.get("records") or [])
        ]
        done = "disabled" if disabled else "enabled"
        if not changes:
            return Done(f"Every record of {zone[:-1]} was {done} already.", already=True)
        api.call("PATCH", _zone_path(zone), {"rrsets": changes})
        count = sum(len(change["records"]) for change in changes)
        return Done(f"{done.capitalize()} {count} records of {zone[:-1]} (its SOA and NS records stay on).")

    def suspend(self, context: ModuleContext) -> Done:
        return self._switch(context, disabled=True)

    def unsuspend(self, context: ModuleContext) -> Done:
        return self._switch(context, disabled=False)

    def terminate(self, context: ModuleContext) -> Done:
        zone, tag = self._zone(context)
        api, _ = self._server(context)
        if self._owned(api, zone, tag) is None:
            return Done(f"The zone {zone[:-1]} is not on this server: nothing to delete.", already=True)
        status, _ = api.call("DELETE", _zone_path(zone), allow=(404,))
        if status == 404:
            return Done(f"The zone {zone[:-1]} was gone already.", already=True)
        return Done(f"Deleted the zone {zone[:-1]} and its records.")

    def change_package(self, context: ModuleContext) -> Done:
        zone, tag = self._zone(context)
        product = self._product(context.params.get("settings") or {})
        api, _ = self._server(context)
        zone_data = self._owned(api, zone, tag)
        if zone_data is None:
            raise PermanentModuleError(f"The zone {zone[:-1]} is not on this server.")
        api.set_limit(zone, product["record_limit"])
        count = _record_count(zone_data, zone)
        over = f"; it holds {count} records, more than that" if count > product["record_limit"] else ""
        return Done(f"Set the record limit of {zone[:-1]} to {product['record_limit']}{over}.")

    def change_password(self, context: ModuleContext) -> Done:
        return Done("A DNS zone has no password: nothing was changed on the server.", already=True)

    def usage(self, context: ModuleContext) -> Usage:
        zone, tag = self._zone(context)
        api, _ = self._server(context)
        zone_data = self._owned(api, zone, tag)
        if zone_data is None:
            raise PermanentModuleError(f"The zone {zone[:-1]} is not on this server.")
        limit = api.limit(zone)
        return Usage({"records": _record_count(zone_data, zone)}, {"records": limit} if limit is not None else {})

    def test_connection(self, context: ModuleContext) -> ConnectionOk:
        api, _ = self._server(context)
        _, answer = api.call("GET")
        version = answer.get("version") if isinstance(answer, dict) else None
        if not version:
            raise PermanentModuleError(f"{api.where} answered, but not as a PowerDNS server (no version).")
        return ConnectionOk(f"PowerDNS {_short(version, 40)} answered at {api.where}, and it took the API key.")

    def list_accounts(self, context: ModuleContext) -> AccountList:
        api, _ = self._server(context)
        _, zones = api.call("GET", "/zones")
        accounts = []
        for zone_data in zones if isinstance(zones, list) else []:
            tag = zone_data.get("account") or ""
            if not tag.startswith(ACCOUNT_PREFIX):
                continue
            number = tag[len(ACCOUNT_PREFIX) :]
            name = str(zone_data.get("name") or "").rstrip(".")
            accounts.append(RemoteAccount(name, int(number) if number.isdigit() else None, domain=name))
        return AccountList(tuple(sorted(accounts, key=lambda account: account.username)))
