"""EPP frames read into typed values (RFC 5730 greeting and response; RFC 5731-5733 resData), and the result
codes sorted into success, transient and permanent failures.

A frame is parsed with ElementTree after refusing any DOCTYPE, so no entity can expand; dates are timezone-aware
(UTC when the server gives none)."""

from __future__ import annotations

import datetime
import xml.etree.ElementTree as ET
from dataclasses import dataclass

from provisioning.registrars.epp.commands import CONTACT_NS, DOMAIN_NS, EPP_NS, HOST_NS
from provisioning.registrars.epp.errors import EppCommandError, EppProtocolError, ResultKind

SUCCESS_CODES = frozenset({1000, 1001, 1300, 1301, 1500})
# Failures about the moment, not the request: the same command may succeed on another try or session.
TRANSIENT_CODES = frozenset({2400, 2500, 2501, 2502})
SESSION_ENDING_CODES = frozenset({2500, 2501, 2502})
_KINDS: dict[int, ResultKind] = {
    2000: ResultKind.PROTOCOL,
    2001: ResultKind.PROTOCOL,
    2002: ResultKind.PROTOCOL,
    2003: ResultKind.PARAMETER,
    2004: ResultKind.PARAMETER,
    2005: ResultKind.PARAMETER,
    2100: ResultKind.PROTOCOL,
    2101: ResultKind.PROTOCOL,
    2102: ResultKind.PROTOCOL,
    2103: ResultKind.PROTOCOL,
    2104: ResultKind.BILLING,
    2105: ResultKind.NOT_ELIGIBLE,
    2106: ResultKind.NOT_ELIGIBLE,
    2200: ResultKind.AUTHENTICATION,
    2201: ResultKind.AUTHORIZATION,
    2202: ResultKind.AUTHORIZATION,
    2300: ResultKind.PENDING_TRANSFER,
    2301: ResultKind.PENDING_TRANSFER,
    2302: ResultKind.OBJECT_EXISTS,
    2303: ResultKind.OBJECT_DOES_NOT_EXIST,
    2304: ResultKind.STATUS_PROHIBITS,
    2305: ResultKind.STATUS_PROHIBITS,
    2306: ResultKind.PARAMETER,
    2307: ResultKind.PROTOCOL,
    2308: ResultKind.PARAMETER,
    2400: ResultKind.COMMAND_FAILED,
    2500: ResultKind.SESSION,
    2501: ResultKind.SESSION,
    2502: ResultKind.SESSION,
}


def classify(code: int) -> tuple[ResultKind, bool]:
    """(kind, transient) for a result code. An unknown 2xxx code is permanent: resending it blindly is worse."""
    if code in SUCCESS_CODES or 1000 <= code < 2000:
        return ResultKind.SUCCESS, False
    return _KINDS.get(code, ResultKind.PROTOCOL), code in TRANSIENT_CODES


def _q(namespace: str, local: str) -> str:
    return f"{{{namespace}}}{local}"


def _text(parent: ET.Element | None, namespace: str, local: str) -> str:
    if parent is None:
        return ""
    element = parent.find(_q(namespace, local))
    return (element.text or "").strip() if element is not None else ""


def parse_datetime(value: str) -> datetime.datetime | None:
    if not value:
        return None
    try:
        parsed = datetime.datetime.fromisoformat(value)
    except ValueError as error:
        raise EppProtocolError(f"the server sent a date EPP does not allow: {value!r}") from error
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=datetime.UTC)


def parse_frame(payload: bytes) -> ET.Element:
    """The <epp> root of a frame. A DOCTYPE is refused outright: EPP never needs one, and it is how entity
    expansion attacks arrive."""
    try:
        text = payload.decode("utf-8")  # RFC 5730: UTF-8; checked first so no other encoding hides a DOCTYPE
    except UnicodeDecodeError as error:
        raise EppProtocolError("the server sent a frame that is not UTF-8") from error
    if "<!DOCTYPE" in text or "<!ENTITY" in text:
        raise EppProtocolError("the server sent a DOCTYPE, which EPP does not use")
    try:
        root = ET.fromstring(payload)
    except ET.ParseError as error:
        raise EppProtocolError(f"the server sent XML that does not parse: {error}") from error
    if root.tag != _q(EPP_NS, "epp"):
        raise EppProtocolError(f"the server sent <{root.tag}>, not an EPP frame")
    return root


@dataclass(frozen=True)
class Greeting:
    server_id: str
    server_date: datetime.datetime | None
    versions: tuple[str, ...]
    languages: tuple[str, ...]
    obj_uris: tuple[str, ...]
    ext_uris: tuple[str, ...]


def parse_greeting(payload: bytes) -> Greeting:
    greeting = parse_frame(payload).find(_q(EPP_NS, "greeting"))
    if greeting is None:
        raise EppProtocolError("the server's first frame is not a <greeting>")
    menu = greeting.find(_q(EPP_NS, "svcMenu"))
    if menu is None:
        raise EppProtocolError("the server's greeting has no <svcMenu>")

    def texts(parent: ET.Element | None, local: str) -> tuple[str, ...]:
        found = parent.findall(_q(EPP_NS, local)) if parent is not None else []
        return tuple((element.text or "").strip() for element in found)

    return Greeting(
        server_id=_text(greeting, EPP_NS, "svID"),
        server_date=parse_datetime(_text(greeting, EPP_NS, "svDate")),
        versions=texts(menu, "version"),
        languages=texts(menu, "lang"),
        obj_uris=texts(menu, "objURI"),
        ext_uris=texts(menu.find(_q(EPP_NS, "svcExtension")), "extURI"),
    )


@dataclass(frozen=True)
class TransferData:
    """<domain:trnData> (RFC 5731 3.1.3), in a transfer reply or a poll message."""

    name: str
    status: str  # pending, clientApproved, clientCancelled, clientRejected, serverApproved, serverCancelled
    requested_by: str
    requested_at: datetime.datetime | None
    acting_by: str
    act_by: datetime.datetime | None
    expires_at: datetime.datetime | None


def _transfer_data(res_data: ET.Element | None) -> TransferData | None:
    data = res_data.find(_q(DOMAIN_NS, "trnData")) if res_data is not None else None
    if data is None:
        return None
    return TransferData(
        name=_text(data, DOMAIN_NS, "name"),
        status=_text(data, DOMAIN_NS, "trStatus"),
        requested_by=_text(data, DOMAIN_NS, "reID"),
        requested_at=parse_datetime(_text(data, DOMAIN_NS, "reDate")),
        acting_by=_text(data, DOMAIN_NS, "acID"),
        act_by=parse_datetime(_text(data, DOMAIN_NS, "acDate")),
        expires_at=parse_datetime(_text(data, DOMAIN_NS, "exDate")),
    )


@dataclass(frozen=True)
class QueuedMessage:
    """<msgQ> (RFC 5730 2.6): the queue's size and, on a poll request, its head message."""

    count: int
    message_id: str
    queued_at: datetime.datetime | None
    message: str
    transfer: TransferData | None


@dataclass(frozen=True)
class EppResponse:
    code: int
    message: str
    reason: str  # the first <extValue><reason>, when the server explained a refusal
    cltrid: str
    svtrid: str
    queue: QueuedMessage | None
    res_data: ET.Element | None

    @property
    def is_success(self) -> bool:
        return classify(self.code)[0] is ResultKind.SUCCESS

    def error(self) -> EppCommandError:
        kind, transient = classify(self.code)
        return EppCommandError(self.code, self.message, transient=transient, kind=kind, reason=self.reason)


def parse_response(payload: bytes) -> EppResponse:
    response = parse_frame(payload).find(_q(EPP_NS, "response"))
    if response is None:
        raise EppProtocolError("the server's frame is not a <response>")
    result = response.find(_q(EPP_NS, "result"))
    code_text = result.get("code", "") if result is not None else ""
    if not code_text.isdigit():
        raise EppProtocolError("the server's response has no result code")
    res_data = response.find(_q(EPP_NS, "resData"))
    queue_element = response.find(_q(EPP_NS, "msgQ"))
    queue = None
    if queue_element is not None:
        count = queue_element.get("count", "0")
        queue = QueuedMessage(
            count=int(count) if count.isdigit() else 0,
            message_id=queue_element.get("id", ""),
            queued_at=parse_datetime(_text(queue_element, EPP_NS, "qDate")),
            message=_text(queue_element, EPP_NS, "msg"),
            transfer=_transfer_data(res_data),
        )
    trid = response.find(_q(EPP_NS, "trID"))
    return EppResponse(
        code=int(code_text),
        message=_text(result, EPP_NS, "msg"),
        reason=_text(result.find(_q(EPP_NS, "extValue")), EPP_NS, "reason"),
        cltrid=_text(trid, EPP_NS, "clTRID"),
        svtrid=_text(trid, EPP_NS, "svTRID"),
        queue=queue,
        res_data=res_data,
    )


def _data(response: EppResponse, namespace: str, local: str) -> ET.Element:
    data = response.res_data.find(_q(namespace, local)) if response.res_data is not None else None
    if data is None:
        raise EppProtocolError(f"the server's {response.code} answer has no <{local}>")
    return data


@dataclass(frozen=True)
class Availability:
    """One <cd> of a domain or host check."""

    name: str
    available: bool
    reason: str


def _availability(response: EppResponse, namespace: str) -> list[Availability]:
    found = []
    for cd in _data(response, namespace, "chkData").findall(_q(namespace, "cd")):
        name = cd.find(_q(namespace, "name"))
        if name is None:
            continue
        found.append(
            Availability(
                name=(name.text or "").strip(),
                available=name.get("avail") in ("1", "true"),
                reason=_text(cd, namespace, "reason"),
            )
        )
    return found


def domain_check(response: EppResponse) -> list[Availability]:
    return _availability(response, DOMAIN_NS)


def host_check(response: EppResponse) -> list[Availability]:
    return _availability(response, HOST_NS)


@dataclass(frozen=True)
class DomainInfo:
    """<domain:infData> (RFC 5731 3.1.2). `auth_info` is only given to the sponsoring registrar."""

    name: str
    roid: str
    statuses: tuple[str, ...]
    registrant: str
    contacts: tuple[tuple[str, str], ...]  # (role, contact id)
    nameservers: tuple[str, ...]
    subordinate_hosts: tuple[str, ...]
    sponsor: str
    created_at: datetime.datetime | None
    updated_at: datetime.datetime | None
    expires_at: datetime.datetime | None
    transferred_at: datetime.datetime | None
    auth_info: str


def domain_info(response: EppResponse) -> DomainInfo:
    data = _data(response, DOMAIN_NS, "infData")
    ns = data.find(_q(DOMAIN_NS, "ns"))
    nameservers: list[str] = []
    if ns is not None:  # hostObj, or hostAttr/hostName for a registry that inlines its hosts
        for element in [*ns.findall(_q(DOMAIN_NS, "hostObj")), *ns.iter(_q(DOMAIN_NS, "hostName"))]:
            nameservers.append((element.text or "").strip().lower())
    return DomainInfo(
        name=_text(data, DOMAIN_NS, "name"),
        roid=_text(data, DOMAIN_NS, "roid"),
        statuses=tuple(element.get("s", "") for element in data.findall(_q(DOMAIN_NS, "status"))),
        registrant=_text(data, DOMAIN_NS, "registrant"),
        contacts=tuple(
            (element.get("type", ""), (element.text or "").strip())
            for element in data.findall(_q(DOMAIN_NS, "contact"))
        ),
        nameservers=tuple(nameservers),
        subordinate_hosts=tuple((e.text or "").strip() for e in data.findall(_q(DOMAIN_NS, "host"))),
        sponsor=_text(data, DOMAIN_NS, "clID"),
        created_at=parse_datetime(_text(data, DOMAIN_NS, "crDate")),
        updated_at=parse_datetime(_text(data, DOMAIN_NS, "upDate")),
        expires_at=parse_datetime(_text(data, DOMAIN_NS, "exDate")),
        transferred_at=parse_datetime(_text(data, DOMAIN_NS, "trDate")),
        auth_info=_text(data.find(_q(DOMAIN_NS, "authInfo")), DOMAIN_NS, "pw"),
    )


@dataclass(frozen=True)
class DomainCreated:
    name: str
    created_at: datetime.datetime | None
    expires_at: datetime.datetime | None


def domain_created(response: EppResponse) -> DomainCreated:
    data = _data(response, DOMAIN_NS, "creData")
    return DomainCreated(
        name=_text(data, DOMAIN_NS, "name"),
        created_at=parse_datetime(_text(data, DOMAIN_NS, "crDate")),
        expires_at=parse_datetime(_text(data, DOMAIN_NS, "exDate")),
    )


@dataclass(frozen=True)
class DomainRenewed:
    name: str
    expires_at: datetime.datetime | None


def domain_renewed(response: EppResponse) -> DomainRenewed:
    data = _data(response, DOMAIN_NS, "renData")
    expires_at = parse_datetime(_text(data, DOMAIN_NS, "exDate"))
    return DomainRenewed(name=_text(data, DOMAIN_NS, "name"), expires_at=expires_at)


def domain_transfer(response: EppResponse) -> TransferData:
    data = _transfer_data(response.res_data)
    if data is None:
        raise EppProtocolError(f"the server's {response.code} answer to a transfer has no <trnData>")
    return data


@dataclass(frozen=True)
class ContactInfo:
    """<contact:infData> (RFC 5733 3.1.2), the first postal info the server sent."""

    contact_id: str
    roid: str
    statuses: tuple[str, ...]
    name: str
    organisation: str
    street: tuple[str, ...]
    city: str
    state: str
    postcode: str
    country_code: str
    voice: str
    fax: str
    email: str
    sponsor: str
    created_at: datetime.datetime | None


def contact_info(response: EppResponse) -> ContactInfo:
    data = _data(response, CONTACT_NS, "infData")
    postal = data.find(_q(CONTACT_NS, "postalInfo"))
    address = postal.find(_q(CONTACT_NS, "addr")) if postal is not None else None
    return ContactInfo(
        contact_id=_text(data, CONTACT_NS, "id"),
        roid=_text(data, CONTACT_NS, "roid"),
        statuses=tuple(element.get("s", "") for element in data.findall(_q(CONTACT_NS, "status"))),
        name=_text(postal, CONTACT_NS, "name"),
        organisation=_text(postal, CONTACT_NS, "org"),
        street=tuple(
            (e.text or "").strip() for e in (address.findall(_q(CONTACT_NS, "street")) if address is not None else [])
        ),
        city=_text(address, CONTACT_NS, "city"),
        state=_text(address, CONTACT_NS, "sp"),
        postcode=_text(address, CONTACT_NS, "pc"),
        country_code=_text(address, CONTACT_NS, "cc"),
        voice=_text(data, CONTACT_NS, "voice"),
        fax=_text(data, CONTACT_NS, "fax"),
        email=_text(data, CONTACT_NS, "email"),
        sponsor=_text(data, CONTACT_NS, "clID"),
        created_at=parse_datetime(_text(data, CONTACT_NS, "crDate")),
    )


@dataclass(frozen=True)
class ObjectCreated:
    """A contact's or a host's <creData>: its id or name, and when."""

    identifier: str
    created_at: datetime.datetime | None


def contact_created(response: EppResponse) -> ObjectCreated:
    data = _data(response, CONTACT_NS, "creData")
    return ObjectCreated(_text(data, CONTACT_NS, "id"), parse_datetime(_text(data, CONTACT_NS, "crDate")))


def host_created(response: EppResponse) -> ObjectCreated:
    data = _data(response, HOST_NS, "creData")
    return ObjectCreated(_text(data, HOST_NS, "name"), parse_datetime(_text(data, HOST_NS, "crDate")))
