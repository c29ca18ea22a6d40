"""The test EPP server's registry: domains, contacts, hosts and poll queues in memory, and the answers to each
command in the shapes and result codes of RFC 5730-5733. The network side (TLS, framing, sessions, knobs) is in
tests/epp_server.py; this module never touches a socket.

Written from the RFCs, independently of provisioning/registrars/epp: it parses requests namespace-aware with
ElementTree and builds its answers the same way, so every value goes out escaped."""

from __future__ import annotations

import datetime
import ipaddress
import itertools
import re
import secrets
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field

EPP = "urn:ietf:params:xml:ns:epp-1.0"
DOMAIN = "urn:ietf:params:xml:ns:domain-1.0"
CONTACT = "urn:ietf:params:xml:ns:contact-1.0"
HOST = "urn:ietf:params:xml:ns:host-1.0"
PREFIXES = {DOMAIN: "domain", CONTACT: "contact", HOST: "host"}

MESSAGES = {
    1000: "Command completed successfully",
    1001: "Command completed successfully; action pending",
    1300: "Command completed successfully; no messages",
    1301: "Command completed successfully; ack to dequeue",
    1500: "Command completed successfully; ending session",
    2000: "Unknown command",
    2001: "Command syntax error",
    2002: "Command use error",
    2003: "Required parameter missing",
    2004: "Parameter value range error",
    2005: "Parameter value syntax error",
    2100: "Unimplemented protocol version",
    2101: "Unimplemented command",
    2102: "Unimplemented option",
    2106: "Object is not eligible for transfer",
    2200: "Authentication error",
    2201: "Authorization error",
    2300: "Object pending transfer",
    2301: "Object not pending transfer",
    2302: "Object exists",
    2303: "Object does not exist",
    2304: "Object status prohibits operation",
    2306: "Parameter value policy error",
    2307: "Unimplemented object service",
    2400: "Command failed",
    2500: "Command failed; server closing connection",
    2501: "Authentication error; server closing connection",
    2502: "Session limit exceeded; server closing connection",
}
CLIENT_STATUSES = frozenset(
    {
        "clientHold",
        "clientDeleteProhibited",
        "clientRenewProhibited",
        "clientTransferProhibited",
        "clientUpdateProhibited",
    }
)
LABEL = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")
CONTACT_ID = re.compile(r"[A-Za-z0-9._-]{3,16}")


def q(namespace: str, local: str) -> str:
    return f"{{{namespace}}}{local}"


def stamp(moment: datetime.datetime) -> str:
    return moment.astimezone(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S.0Z")


def add_years(moment: datetime.datetime, years: int) -> datetime.datetime:
    try:
        return moment.replace(year=moment.year + years)
    except ValueError:  # 29 February
        return moment.replace(year=moment.year + years, day=28)


class Refusal(Exception):
    """A command the registry refuses: its result code, and the value and reason it names when there is one."""

    def __init__(self, code: int, reason: str = "", value: ET.Element | None = None) -> None:
        super().__init__(code, reason)
        self.code = code
        self.reason = reason
        self.value = value


@dataclass
class Transfer:
    gaining: str
    losing: str
    requested_at: datetime.datetime
    act_by: datetime.datetime
    years: int
    status: str = "pending"


@dataclass
class Domain:
    name: str
    roid: str
    sponsor: str
    registrant: str
    auth_info: str
    created_at: datetime.datetime
    expires_at: datetime.datetime
    contacts: list[tuple[str, str]] = field(default_factory=list)
    nameservers: list[str] = field(default_factory=list)
    statuses: set[str] = field(default_factory=set)
    updated_at: datetime.datetime | None = None
    transferred_at: datetime.datetime | None = None
    transfer: Transfer | None = None


@dataclass
class Contact:
    contact_id: str
    roid: str
    sponsor: str
    email: str
    auth_info: str
    created_at: datetime.datetime
    postal: ET.Element | None = None  # the <contact:postalInfo> as sent, given back in info
    voice: str = ""


@dataclass
class Host:
    name: str
    roid: str
    sponsor: str
    created_at: datetime.datetime
    addresses: list[tuple[str, str]] = field(default_factory=list)  # (version, address)


@dataclass
class QueuedMessage:
    message_id: str
    queued_at: datetime.datetime
    text: str
    res_data: ET.Element | None = None  # a transfer message carries the domain's trnData as it was then


class Registry:
    """The repository the server answers from. Callers hold the server's lock."""

    def __init__(self, *, zones: tuple[str, ...], now) -> None:
        self.zones = zones
        self.now = now
        self.domains: dict[str, Domain] = {}
        self.contacts: dict[str, Contact] = {}
        self.hosts: dict[str, Host] = {}
        self.queues: dict[str, list[QueuedMessage]] = {}
        self.refused_nameservers: set[str] = set()  # the registry answers 2303 for these, as for an unknown host
        self._ids = itertools.count(1)

    # --- seeding and the registry's own actions ----------------------------------------------------------------

    def add_contact(self, contact_id: str, *, sponsor: str, email: str = "holder@example.test") -> Contact:
        contact = Contact(contact_id, f"C{next(self._ids)}-TEST", sponsor, email, secrets.token_hex(8), self.now())
        self.contacts[contact_id] = contact
        return contact

    def add_host(self, name: str, *, sponsor: str, addresses: tuple[tuple[str, str], ...] = ()) -> Host:
        host = Host(name.lower(), f"H{next(self._ids)}-TEST", sponsor, self.now(), list(addresses))
        self.hosts[host.name] = host
        return host

    def add_domain(
        self,
        name: str,
        *,
        sponsor: str,
        registrant: str = "holder1",
        auth_info: str = "",
        years: int = 1,
        nameservers: tuple[str, ...] = (),
        statuses: tuple[str, ...] = (),
    ) -> Domain:
        if registrant not in self.contacts:
            self.add_contact(registrant, sponsor=sponsor)
        now = self.now()
        domain = Domain(
            name=name.lower(),
            roid=f"D{next(self._ids)}-TEST",
            sponsor=sponsor,
            registrant=registrant,
            auth_info=auth_info or secrets.token_hex(8),
            created_at=now,
            expires_at=add_years(now, years),
            nameservers=list(nameservers),
            statuses=set(statuses),
        )
        self.domains[domain.name] = domain
        return domain

    def queue(self, clid: str, text: str, domain_name: str | None = None) -> None:
        domain = self.domains.get(domain_name or "")
        res_data = transfer_data(domain) if domain is not None and domain.transfer is not None else None
        message = QueuedMessage(str(next(self._ids)), self.now(), text, res_data)
        self.queues.setdefault(clid, []).append(message)

    def finish_transfer(self, name: str, status: str, reason: str = "") -> Domain:
        domain = self.domains[name.lower()]
        transfer = domain.transfer
        if transfer is None or transfer.status != "pending":
            raise ValueError(f"{name} has no pending transfer")
        transfer.status = status
        domain.statuses.discard("pendingTransfer")
        if status in ("serverApproved", "clientApproved"):
            domain.sponsor = transfer.gaining
            domain.expires_at = add_years(domain.expires_at, transfer.years)
            domain.transferred_at = self.now()
            domain.auth_info = secrets.token_hex(8)
            text = "Transfer completed."
        else:
            text = reason or "Transfer rejected."
        self.queue(transfer.gaining, text, domain.name)
        self.queue(transfer.losing, text, domain.name)
        return domain

    # --- checks the commands share -------------------------------------------------------------------------------

    def check_name(self, name: str) -> str:
        """The name lower-cased, or a Refusal: 2005 bad syntax, 2306 a zone this registry does not serve."""
        name = name.strip().lower()
        label, _, zone = name.partition(".")
        if not LABEL.fullmatch(label) or not zone or not all(LABEL.fullmatch(part) for part in zone.split(".")):
            raise Refusal(2005, "Invalid domain name")
        if zone not in self.zones:
            raise Refusal(2306, "Zone not served")
        return name

    def in_zone(self, host: str) -> bool:
        return any(host.endswith("." + zone) for zone in self.zones)

    def domain_of(self, name: str, clid: str, *, auth_info: str | None = None) -> Domain:
        domain = self.domains.get(name.strip().lower())
        if domain is None:
            raise Refusal(2303)
        if domain.sponsor != clid and (auth_info is None or auth_info != domain.auth_info):
            raise Refusal(2201, "Object is sponsored by another registrar" if auth_info is None else "Wrong authInfo")
        return domain

    def check_nameservers(self, hosts: list[str]) -> None:
        for host in hosts:
            value = ET.Element("domain:hostObj", {"xmlns:domain": DOMAIN})
            value.text = host
            if host in self.refused_nameservers:
                raise Refusal(2303, "Nameserver not known to the registry", value)
            if self.in_zone(host) and host not in self.hosts:
                raise Refusal(2303, "In-zone nameserver must be created first", value)

    def check_contacts(self, handles: list[str]) -> None:
        for handle in handles:
            if handle not in self.contacts:
                raise Refusal(2303, f"Contact {handle} does not exist")


def texts(parent: ET.Element | None, namespace: str, local: str) -> list[str]:
    if parent is None:
        return []
    return [(element.text or "").strip() for element in parent.findall(q(namespace, local))]


def text(parent: ET.Element | None, namespace: str, local: str) -> str:
    found = texts(parent, namespace, local)
    return found[0] if found else ""


def auth_of(parent: ET.Element | None, namespace: str) -> str | None:
    auth = parent.find(q(namespace, "authInfo")) if parent is not None else None
    return text(auth, namespace, "pw") if auth is not None else None


def period_of(parent: ET.Element, *, default: int | None = 1) -> int | None:
    period = parent.find(q(DOMAIN, "period"))
    if period is None:
        return default
    value = (period.text or "").strip()
    if period.get("unit", "y") != "y" or not value.isdigit() or not 1 <= int(value) <= 10:
        raise Refusal(2004, "Period must be 1 to 10 years")
    return int(value)


def nameservers_of(parent: ET.Element | None) -> list[str]:
    ns = parent.find(q(DOMAIN, "ns")) if parent is not None else None
    if ns is None:
        return []
    inline = [text(attr, DOMAIN, "hostName") for attr in ns.findall(q(DOMAIN, "hostAttr"))]
    return [name.lower() for name in texts(ns, DOMAIN, "hostObj") + inline]


def element(tag: str, namespace: str | None = None, value: str | None = None, **attributes: str) -> ET.Element:
    node = ET.Element(tag, attributes)
    if namespace is not None:
        node.set(f"xmlns:{PREFIXES[namespace]}", namespace)
    node.text = value
    return node


def child(parent: ET.Element, tag: str, value: str | None = None, **attributes: str) -> ET.Element:
    node = ET.SubElement(parent, tag, attributes)
    node.text = value
    return node


def transfer_data(domain: Domain) -> ET.Element:
    transfer = domain.transfer
    assert transfer is not None
    data = element("domain:trnData", DOMAIN)
    child(data, "domain:name", domain.name)
    child(data, "domain:trStatus", transfer.status)
    child(data, "domain:reID", transfer.gaining)
    child(data, "domain:reDate", stamp(transfer.requested_at))
    child(data, "domain:acID", transfer.losing)
    child(data, "domain:acDate", stamp(transfer.act_by))
    expires = domain.expires_at if transfer.status != "pending" else add_years(domain.expires_at, transfer.years)
    child(data, "domain:exDate", stamp(expires))
    return data


def domain_info_data(domain: Domain, *, subordinate_hosts: list[str], with_auth_info: bool) -> ET.Element:
    """<domain:infData> in RFC 5731's order."""
    data = element("domain:infData", DOMAIN)
    child(data, "domain:name", domain.name)
    child(data, "domain:roid", domain.roid)
    for status in sorted(domain.statuses) or ["ok"]:
        child(data, "domain:status", s=status)
    child(data, "domain:registrant", domain.registrant)
    for role, handle in domain.contacts:
        child(data, "domain:contact", handle, type=role)
    if domain.nameservers:
        ns = child(data, "domain:ns")
        for host in domain.nameservers:
            child(ns, "domain:hostObj", host)
    for host in subordinate_hosts:
        child(data, "domain:host", host)
    child(data, "domain:clID", domain.sponsor)
    child(data, "domain:crID", domain.sponsor)
    child(data, "domain:crDate", stamp(domain.created_at))
    if domain.updated_at:
        child(data, "domain:upID", domain.sponsor)
        child(data, "domain:upDate", stamp(domain.updated_at))
    child(data, "domain:exDate", stamp(domain.expires_at))
    if domain.transferred_at:
        child(data, "domain:trDate", stamp(domain.transferred_at))
    if with_auth_info:
        child(child(data, "domain:authInfo"), "domain:pw", domain.auth_info)
    return data


def is_ip(value: str) -> str | None:
    try:
        return f"v{ipaddress.ip_address(value).version}"
    except ValueError:
        return None
