"""The EPP commands we send (RFC 5730-5733), built with ElementTree: every value is set as element text or an
attribute, so the XML library escapes it; nothing a user typed is ever formatted into markup.

Prefixed tags (`domain:name`) are written literally, with the `xmlns:domain` declaration on the object element,
so the frames read like the RFCs' examples without touching ElementTree's process-wide prefix table."""

from __future__ import annotations

import datetime
import ipaddress
import re
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from provisioning.registrars.epp.errors import EppValueError

EPP_NS = "urn:ietf:params:xml:ns:epp-1.0"
DOMAIN_NS = "urn:ietf:params:xml:ns:domain-1.0"
CONTACT_NS = "urn:ietf:params:xml:ns:contact-1.0"
HOST_NS = "urn:ietf:params:xml:ns:host-1.0"
OBJECT_NAMESPACES = {"domain": DOMAIN_NS, "contact": CONTACT_NS, "host": HOST_NS}

CONTACT_ROLES = ("admin", "tech", "billing")
TRANSFER_OPS = ("request", "query", "approve", "reject", "cancel")
# Characters XML 1.0 cannot carry at all, escaped or not.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


@dataclass(frozen=True)
class EppCommand:
    """One frame ready to send. `idempotent` commands (check, info, poll request, transfer query) may be sent
    again on a new session after the old one died; the others never are."""

    name: str  # "domain:create", "poll:req", ...
    payload: bytes
    cltrid: str | None
    idempotent: bool


@dataclass(frozen=True)
class ContactDetails:
    """A registrant or role contact as RFC 5733 describes it."""

    contact_id: str
    name: str
    email: str
    street: Sequence[str] = ()
    city: str = ""
    country_code: str = ""  # ISO 3166 alpha-2
    organisation: str = ""
    state: str = ""
    postcode: str = ""
    voice: str = ""  # "+1.7035555555"
    fax: str = ""
    auth_info: str = ""


@dataclass(frozen=True)
class DomainChange:
    """One domain:update: what to add, remove and change. Empty parts are left out of the frame."""

    add_nameservers: Sequence[str] = ()
    remove_nameservers: Sequence[str] = ()
    add_statuses: Sequence[str] = ()  # e.g. "clientTransferProhibited", the registrar lock
    remove_statuses: Sequence[str] = ()
    add_contacts: Sequence[tuple[str, str]] = ()  # (role, contact id)
    remove_contacts: Sequence[tuple[str, str]] = ()
    registrant: str | None = None
    auth_info: str | None = None

    @property
    def is_empty(self) -> bool:
        return not (
            self.add_nameservers
            or self.remove_nameservers
            or self.add_statuses
            or self.remove_statuses
            or self.add_contacts
            or self.remove_contacts
            or self.registrant is not None
            or self.auth_info is not None
        )


def new_cltrid(prefix: str = "portal") -> str:
    """A client transaction id unique per command (RFC 5730 allows 3 to 64 characters)."""
    return f"{prefix[:24]}-{uuid.uuid4().hex}"


def is_subordinate(host: str, domain: str) -> bool:
    """Whether a nameserver lives under the domain (ns1.example.test under example.test) and so needs glue."""
    host, domain = host.lower().rstrip("."), domain.lower().rstrip(".")
    return host.endswith("." + domain)


def _text(value: str, what: str, *, allow_empty: bool = False) -> str:
    if not isinstance(value, str):
        raise EppValueError(f"{what} must be text, not {type(value).__name__}")
    if not allow_empty and not value.strip():
        raise EppValueError(f"{what} is empty")
    if _NOT_XML.search(value):
        raise EppValueError(f"{what} holds a character XML cannot carry")
    return value


def _sub(parent: ET.Element, tag: str, text: str | None = None, **attributes: str) -> ET.Element:
    element = ET.SubElement(parent, tag, attributes)
    if text is not None:
        element.text = text
    return element


class _Frame:
    """<epp><command><VERB>...</VERB><clTRID/></command></epp>, or a bare <epp><hello/></epp>."""

    def __init__(self, verb: str, *, command: bool = True, **attributes: str) -> None:
        self.root = ET.Element("epp", {"xmlns": EPP_NS})
        if command:
            self.command: ET.Element | None = _sub(self.root, "command")
            self.verb = _sub(self.command, verb, **attributes)
        else:
            self.command = None
            self.verb = _sub(self.root, verb, **attributes)

    def object(self, prefix: str, local: str) -> ET.Element:
        return _sub(self.verb, f"{prefix}:{local}", **{f"xmlns:{prefix}": OBJECT_NAMESPACES[prefix]})

    def build(self, name: str, *, idempotent: bool) -> EppCommand:
        cltrid = None
        if self.command is not None:
            cltrid = new_cltrid()
            _sub(self.command, "clTRID", cltrid)
        payload = ET.tostring(self.root, encoding="utf-8", xml_declaration=True)
        return EppCommand(name=name, payload=payload, cltrid=cltrid, idempotent=idempotent)


def hello() -> EppCommand:
    return _Frame("hello", command=False).build("hello", idempotent=True)


def login(
    *,
    username: str,
    password: str,
    obj_uris: Iterable[str],
    ext_uris: Iterable[str] = (),
    lang: str = "en",
    new_password: str | None = None,
) -> EppCommand:
    """Login announcing the services the server's greeting offered (RFC 5730 2.9.1.1)."""
    frame = _Frame("login")
    _sub(frame.verb, "clID", _text(username, "the EPP username"))
    _sub(frame.verb, "pw", _text(password, "the EPP password"))
    if new_password is not None:
        _sub(frame.verb, "newPW", _text(new_password, "the new EPP password"))
    options = _sub(frame.verb, "options")
    _sub(options, "version", "1.0")
    _sub(options, "lang", _text(lang, "the language"))
    services = _sub(frame.verb, "svcs")
    for uri in obj_uris:
        _sub(services, "objURI", _text(uri, "an object URI"))
    ext_uris = list(ext_uris)
    if ext_uris:
        extension = _sub(services, "svcExtension")
        for uri in ext_uris:
            _sub(extension, "extURI", _text(uri, "an extension URI"))
    return frame.build("login", idempotent=False)


def logout() -> EppCommand:
    return _Frame("logout").build("logout", idempotent=False)


def domain_check(names: Sequence[str]) -> EppCommand:
    if not names:
        raise EppValueError("a domain check needs at least one name")
    frame = _Frame("check")
    check = frame.object("domain", "check")
    for name in names:
        _sub(check, "domain:name", _text(name, "the domain name"))
    return frame.build("domain:check", idempotent=True)


def domain_info(name: str, *, auth_info: str | None = None, hosts: str = "all") -> EppCommand:
    frame = _Frame("info")
    info = frame.object("domain", "info")
    _sub(info, "domain:name", _text(name, "the domain name"), hosts=hosts)
    if auth_info:
        _sub(_sub(info, "domain:authInfo"), "domain:pw", _text(auth_info, "the EPP code"))
    return frame.build("domain:info", idempotent=True)


def _nameservers(parent: ET.Element, nameservers: Sequence[str]) -> None:
    if nameservers:
        ns = _sub(parent, "domain:ns")
        for host in nameservers:
            _sub(ns, "domain:hostObj", _text(host, "a nameserver"))


def _contacts(parent: ET.Element, contacts: Iterable[tuple[str, str]]) -> None:
    for role, contact_id in contacts:
        if role not in CONTACT_ROLES:
            raise EppValueError(f"a contact role must be one of {', '.join(CONTACT_ROLES)}")
        _sub(parent, "domain:contact", _text(contact_id, "a contact id"), type=role)


def _years(years: int, what: str) -> str:
    if isinstance(years, bool) or not isinstance(years, int) or not 1 <= years <= 99:
        raise EppValueError(f"the {what} period must be 1 to 99 years")
    return str(years)


def domain_create(
    *,
    name: str,
    years: int,
    registrant: str,
    auth_info: str,
    contacts: Sequence[tuple[str, str]] = (),
    nameservers: Sequence[str] = (),
) -> EppCommand:
    """RFC 5731 3.2.1; the children in the schema's order: name, period, ns, registrant, contact, authInfo."""
    frame = _Frame("create")
    create = frame.object("domain", "create")
    _sub(create, "domain:name", _text(name, "the domain name"))
    _sub(create, "domain:period", _years(years, "registration"), unit="y")
    _nameservers(create, nameservers)
    _sub(create, "domain:registrant", _text(registrant, "the registrant"))
    _contacts(create, contacts)
    _sub(_sub(create, "domain:authInfo"), "domain:pw", _text(auth_info, "the EPP code"))
    return frame.build("domain:create", idempotent=False)


def domain_renew(*, name: str, current_expiry: datetime.date, years: int) -> EppCommand:
    """RFC 5731 3.2.3: the current expiry date guards against renewing twice."""
    frame = _Frame("renew")
    renew = frame.object("domain", "renew")
    _sub(renew, "domain:name", _text(name, "the domain name"))
    _sub(renew, "domain:curExpDate", current_expiry.isoformat())
    _sub(renew, "domain:period", _years(years, "renewal"), unit="y")
    return frame.build("domain:renew", idempotent=False)


def domain_transfer(*, op: str, name: str, auth_info: str | None = None, years: int | None = None) -> EppCommand:
    """RFC 5731 3.1.3 (query) and 3.2.4 (request and the others)."""
    if op not in TRANSFER_OPS:
        raise EppValueError(f"a transfer op must be one of {', '.join(TRANSFER_OPS)}")
    frame = _Frame("transfer", op=op)
    transfer = frame.object("domain", "transfer")
    _sub(transfer, "domain:name", _text(name, "the domain name"))
    if years is not None:
        _sub(transfer, "domain:period", _years(years, "transfer"), unit="y")
    if auth_info is not None:
        _sub(_sub(transfer, "domain:authInfo"), "domain:pw", _text(auth_info, "the EPP code"))
    return frame.build(f"domain:transfer:{op}", idempotent=op == "query")


def domain_update(*, name: str, change: DomainChange) -> EppCommand:
    """RFC 5731 3.2.5: <add> and <rem> (ns, contact, status), then <chg> (registrant, authInfo)."""
    if change.is_empty:
        raise EppValueError("a domain update must change something")
    frame = _Frame("update")
    update = frame.object("domain", "update")
    _sub(update, "domain:name", _text(name, "the domain name"))
    for tag, nameservers, contacts, statuses in (
        ("domain:add", change.add_nameservers, change.add_contacts, change.add_statuses),
        ("domain:rem", change.remove_nameservers, change.remove_contacts, change.remove_statuses),
    ):
        if nameservers or contacts or statuses:
            block = _sub(update, tag)
            _nameservers(block, nameservers)
            _contacts(block, contacts)
            for status in statuses:
                _sub(block, "domain:status", s=_text(status, "a status"))
    if change.registrant is not None or change.auth_info is not None:
        chg = _sub(update, "domain:chg")
        if change.registrant is not None:
            _sub(chg, "domain:registrant", _text(change.registrant, "the registrant"))
        if change.auth_info is not None:
            _sub(_sub(chg, "domain:authInfo"), "domain:pw", _text(change.auth_info, "the EPP code"))
    return frame.build("domain:update", idempotent=False)


def contact_create(contact: ContactDetails) -> EppCommand:
    """RFC 5733 3.2.1. The postal info is "int" when it is all ASCII, "loc" otherwise (section 2.3.2)."""
    frame = _Frame("create")
    create = frame.object("contact", "create")
    _sub(create, "contact:id", _text(contact.contact_id, "the contact id"))
    postal_values = [contact.name, contact.organisation, *contact.street, contact.city, contact.state]
    postal_type = "int" if all(value.isascii() for value in postal_values) else "loc"
    postal = _sub(create, "contact:postalInfo", type=postal_type)
    _sub(postal, "contact:name", _text(contact.name, "the contact's name"))
    if contact.organisation:
        _sub(postal, "contact:org", _text(contact.organisation, "the organisation"))
    address = _sub(postal, "contact:addr")
    for line in list(contact.street)[:3]:
        _sub(address, "contact:street", _text(line, "a street line"))
    _sub(address, "contact:city", _text(contact.city, "the city"))
    if contact.state:
        _sub(address, "contact:sp", _text(contact.state, "the state"))
    if contact.postcode:
        _sub(address, "contact:pc", _text(contact.postcode, "the postcode"))
    _sub(address, "contact:cc", _text(contact.country_code, "the country code"))
    if contact.voice:
        _sub(create, "contact:voice", _text(contact.voice, "the phone number"))
    if contact.fax:
        _sub(create, "contact:fax", _text(contact.fax, "the fax number"))
    _sub(create, "contact:email", _text(contact.email, "the email address"))
    auth = _text(contact.auth_info or uuid.uuid4().hex[:16], "the contact's authInfo")
    _sub(_sub(create, "contact:authInfo"), "contact:pw", auth)
    return frame.build("contact:create", idempotent=False)


def contact_info(contact_id: str, *, auth_info: str | None = None) -> EppCommand:
    frame = _Frame("info")
    info = frame.object("contact", "info")
    _sub(info, "contact:id", _text(contact_id, "the contact id"))
    if auth_info:
        _sub(_sub(info, "contact:authInfo"), "contact:pw", _text(auth_info, "the contact's authInfo"))
    return frame.build("contact:info", idempotent=True)


def host_check(names: Sequence[str]) -> EppCommand:
    if not names:
        raise EppValueError("a host check needs at least one name")
    frame = _Frame("check")
    check = frame.object("host", "check")
    for name in names:
        _sub(check, "host:name", _text(name, "the host name"))
    return frame.build("host:check", idempotent=True)


def host_create(*, name: str, addresses: Sequence[str] = ()) -> EppCommand:
    """RFC 5732 3.2.1: addresses (glue) only for a host under a domain of this registry."""
    frame = _Frame("create")
    create = frame.object("host", "create")
    _sub(create, "host:name", _text(name, "the host name"))
    for address in addresses:
        try:
            version = ipaddress.ip_address(address).version
        except ValueError as error:
            raise EppValueError(f"{address!r} is not an IP address") from error
        _sub(create, "host:addr", str(address), ip=f"v{version}")
    return frame.build("host:create", idempotent=False)


def poll_request() -> EppCommand:
    return _Frame("poll", op="req").build("poll:req", idempotent=True)


def poll_ack(message_id: str) -> EppCommand:
    return _Frame("poll", op="ack", msgID=_text(message_id, "the message id")).build("poll:ack", idempotent=False)
