"""The test EPP server's answer to each object command (RFC 5731 domains, 5732 hosts, 5733 contacts, 5730 poll),
given the registry (tests/epp_registry.py), the logged-in client id and the command's object element.

Each handler validates everything first and changes the registry only when it accepts, so a refused command
leaves nothing behind; a refusal is raised as `Refusal(code, reason, value)`."""

from __future__ import annotations

import datetime
import secrets
import xml.etree.ElementTree as ET
from dataclasses import dataclass

from tests.epp_registry import (
    CLIENT_STATUSES,
    CONTACT,
    CONTACT_ID,
    DOMAIN,
    HOST,
    Contact,
    Domain,
    Host,
    Refusal,
    Registry,
    Transfer,
    add_years,
    auth_of,
    child,
    domain_info_data,
    element,
    is_ip,
    nameservers_of,
    period_of,
    q,
    stamp,
    text,
    texts,
    transfer_data,
)


@dataclass
class Answer:
    code: int = 1000
    res_data: ET.Element | None = None
    msgq: ET.Element | None = None


def domain_check(registry: Registry, clid: str, node: ET.Element) -> Answer:
    data = element("domain:chkData", DOMAIN)
    for name in texts(node, DOMAIN, "name"):
        reason = ""
        try:
            registry.check_name(name)
            if name.lower() in registry.domains:
                reason = "In use"
        except Refusal as refusal:
            reason = refusal.reason
        cd = child(data, "domain:cd")
        child(cd, "domain:name", name, avail="0" if reason else "1")
        if reason:
            child(cd, "domain:reason", reason)
    return Answer(res_data=data)


def domain_info(registry: Registry, clid: str, node: ET.Element) -> Answer:
    domain = registry.domain_of(text(node, DOMAIN, "name"), clid, auth_info=auth_of(node, DOMAIN) or None)
    subordinate = sorted(name for name in registry.hosts if name.endswith("." + domain.name))
    data = domain_info_data(domain, subordinate_hosts=subordinate, with_auth_info=domain.sponsor == clid)
    return Answer(res_data=data)


def domain_create(registry: Registry, clid: str, node: ET.Element) -> Answer:
    name = registry.check_name(text(node, DOMAIN, "name"))
    if name in registry.domains:
        raise Refusal(2302, "Domain exists")
    years = period_of(node) or 1
    registrant = text(node, DOMAIN, "registrant")
    if not registrant:
        raise Refusal(2003, "Registrant required")
    contacts = [(c.get("type", ""), (c.text or "").strip()) for c in node.findall(q(DOMAIN, "contact"))]
    registry.check_contacts([registrant, *(handle for _, handle in contacts)])
    nameservers = nameservers_of(node)
    registry.check_nameservers(nameservers)
    now = registry.now()
    domain = registry.add_domain(name, sponsor=clid, registrant=registrant, auth_info=auth_of(node, DOMAIN) or "")
    domain.contacts, domain.nameservers = contacts, nameservers
    domain.expires_at = add_years(now, years)
    data = element("domain:creData", DOMAIN)
    child(data, "domain:name", domain.name)
    child(data, "domain:crDate", stamp(domain.created_at))
    child(data, "domain:exDate", stamp(domain.expires_at))
    return Answer(res_data=data)


def domain_renew(registry: Registry, clid: str, node: ET.Element) -> Answer:
    domain = registry.domain_of(text(node, DOMAIN, "name"), clid)
    if domain.statuses & {"clientRenewProhibited", "serverRenewProhibited", "pendingTransfer"}:
        raise Refusal(2304, "Renewal prohibited by the domain's status")
    if text(node, DOMAIN, "curExpDate") != domain.expires_at.date().isoformat():
        raise Refusal(2004, "curExpDate is not the current expiry date")
    domain.expires_at = add_years(domain.expires_at, period_of(node) or 1)
    data = element("domain:renData", DOMAIN)
    child(data, "domain:name", domain.name)
    child(data, "domain:exDate", stamp(domain.expires_at))
    return Answer(res_data=data)


def domain_transfer(registry: Registry, clid: str, node: ET.Element, op: str) -> Answer:
    name = text(node, DOMAIN, "name").lower()
    domain = registry.domains.get(name)
    if domain is None:
        raise Refusal(2303)
    auth_info = auth_of(node, DOMAIN)
    if op == "request":
        return _transfer_request(registry, clid, domain, auth_info, period_of(node))
    transfer = domain.transfer
    involved = transfer is not None and clid in (transfer.gaining, transfer.losing)
    if not involved and domain.sponsor != clid and auth_info != domain.auth_info:
        raise Refusal(2201, "Not a party to this transfer")
    if transfer is None:
        raise Refusal(2301)
    if op == "query":
        return Answer(res_data=transfer_data(domain))
    if transfer.status != "pending":
        raise Refusal(2301)
    if op == "cancel" and clid == transfer.gaining:
        registry.finish_transfer(name, "clientCancelled")
    elif op in ("approve", "reject") and clid == transfer.losing:
        registry.finish_transfer(name, "clientApproved" if op == "approve" else "clientRejected")
    else:
        raise Refusal(2201, f"Only the other registrar may {op} this transfer")
    return Answer(res_data=transfer_data(domain))


def _transfer_request(
    registry: Registry, clid: str, domain: Domain, auth_info: str | None, years: int | None
) -> Answer:
    if domain.sponsor == clid:
        raise Refusal(2106, "Domain is already sponsored by the requesting registrar")
    if "pendingTransfer" in domain.statuses:
        raise Refusal(2300)
    if domain.statuses & {"clientTransferProhibited", "serverTransferProhibited"}:
        raise Refusal(2304, "Transfer prohibited by the domain's status")
    if auth_info != domain.auth_info:
        raise Refusal(2201, "Wrong authInfo")
    now = registry.now()
    domain.transfer = Transfer(clid, domain.sponsor, now, now + datetime.timedelta(days=5), years or 1)
    domain.statuses.add("pendingTransfer")
    registry.queue(domain.sponsor, "Transfer requested.", domain.name)
    return Answer(code=1001, res_data=transfer_data(domain))


def domain_update(registry: Registry, clid: str, node: ET.Element) -> Answer:
    domain = registry.domain_of(text(node, DOMAIN, "name"), clid)
    add, rem, chg = (node.find(q(DOMAIN, part)) for part in ("add", "rem", "chg"))
    add_status = [s.get("s", "") for s in add.findall(q(DOMAIN, "status"))] if add is not None else []
    rem_status = [s.get("s", "") for s in rem.findall(q(DOMAIN, "status"))] if rem is not None else []
    lifts_lock_only = (
        rem_status == ["clientUpdateProhibited"] and not add_status and chg is None and not nameservers_of(add)
    )
    if "pendingTransfer" in domain.statuses or "serverUpdateProhibited" in domain.statuses:
        raise Refusal(2304, "Update prohibited by the domain's status")
    if "clientUpdateProhibited" in domain.statuses and not lifts_lock_only:
        raise Refusal(2304, "Update prohibited by clientUpdateProhibited")
    if not set(add_status + rem_status) <= CLIENT_STATUSES:
        raise Refusal(2306, "Only client statuses may be set by a registrar")
    add_ns = nameservers_of(add)
    registry.check_nameservers(add_ns)
    add_contacts = [
        (c.get("type", ""), (c.text or "").strip())
        for c in (add if add is not None else [])
        if c.tag == q(DOMAIN, "contact")
    ]
    rem_contacts = [
        (c.get("type", ""), (c.text or "").strip())
        for c in (rem if rem is not None else [])
        if c.tag == q(DOMAIN, "contact")
    ]
    registrant = text(chg, DOMAIN, "registrant")
    registry.check_contacts([handle for _, handle in add_contacts] + ([registrant] if registrant else []))
    # Everything is valid: apply it.
    domain.nameservers = [h for h in domain.nameservers if h not in nameservers_of(rem)]
    domain.nameservers += [h for h in add_ns if h not in domain.nameservers]
    domain.statuses = (domain.statuses - set(rem_status)) | set(add_status)
    domain.contacts = [c for c in domain.contacts if c not in rem_contacts]
    domain.contacts += [c for c in add_contacts if c not in domain.contacts]
    if registrant:
        domain.registrant = registrant
    new_auth = auth_of(chg, DOMAIN)
    if new_auth:
        domain.auth_info = new_auth
    domain.updated_at = registry.now()
    return Answer()


def contact_check(registry: Registry, clid: str, node: ET.Element) -> Answer:
    data = element("contact:chkData", CONTACT)
    for contact_id in texts(node, CONTACT, "id"):
        cd = child(data, "contact:cd")
        child(cd, "contact:id", contact_id, avail="0" if contact_id in registry.contacts else "1")
    return Answer(res_data=data)


def contact_create(registry: Registry, clid: str, node: ET.Element) -> Answer:
    contact_id = text(node, CONTACT, "id")
    if not CONTACT_ID.fullmatch(contact_id):
        raise Refusal(2005, "Contact id must be 3 to 16 letters, digits, dots, dashes or underscores")
    if contact_id in registry.contacts:
        raise Refusal(2302, "Contact exists")
    postal = node.find(q(CONTACT, "postalInfo"))
    email = text(node, CONTACT, "email")
    if postal is None or not email or not text(postal, CONTACT, "name"):
        raise Refusal(2003, "postalInfo with a name, and an email, are required")
    contact = Contact(
        contact_id,
        f"C{secrets.randbelow(10**6)}-TEST",
        clid,
        email,
        auth_of(node, CONTACT) or secrets.token_hex(8),
        registry.now(),
        postal,
        text(node, CONTACT, "voice"),
    )
    registry.contacts[contact_id] = contact
    data = element("contact:creData", CONTACT)
    child(data, "contact:id", contact_id)
    child(data, "contact:crDate", stamp(contact.created_at))
    return Answer(res_data=data)


def contact_info(registry: Registry, clid: str, node: ET.Element) -> Answer:
    contact = registry.contacts.get(text(node, CONTACT, "id"))
    if contact is None:
        raise Refusal(2303)
    if contact.sponsor != clid and auth_of(node, CONTACT) != contact.auth_info:
        raise Refusal(2201, "Contact is sponsored by another registrar")
    data = element("contact:infData", CONTACT)
    child(data, "contact:id", contact.contact_id)
    child(data, "contact:roid", contact.roid)
    child(data, "contact:status", s="ok")
    if contact.postal is not None:
        data.append(contact.postal)
    if contact.voice:
        child(data, "contact:voice", contact.voice)
    child(data, "contact:email", contact.email)
    child(data, "contact:clID", contact.sponsor)
    child(data, "contact:crID", contact.sponsor)
    child(data, "contact:crDate", stamp(contact.created_at))
    if contact.sponsor == clid:
        child(child(data, "contact:authInfo"), "contact:pw", contact.auth_info)
    return Answer(res_data=data)


def host_check(registry: Registry, clid: str, node: ET.Element) -> Answer:
    data = element("host:chkData", HOST)
    for name in texts(node, HOST, "name"):
        taken = name.lower() in registry.hosts
        cd = child(data, "host:cd")
        child(cd, "host:name", name, avail="0" if taken else "1")
        if taken:
            child(cd, "host:reason", "In use")
    return Answer(res_data=data)


def host_create(registry: Registry, clid: str, node: ET.Element) -> Answer:
    name = text(node, HOST, "name").lower()
    if name in registry.hosts:
        raise Refusal(2302, "Host exists")
    addresses = [(a.get("ip", "v4"), (a.text or "").strip()) for a in node.findall(q(HOST, "addr"))]
    if any(is_ip(address) != version for version, address in addresses):
        raise Refusal(2005, "Invalid IP address")
    if registry.in_zone(name):  # RFC 5732 3.2.1: the superordinate domain must exist, and glue is required
        superordinate = next((d for d in registry.domains.values() if name.endswith("." + d.name)), None)
        if superordinate is None:
            raise Refusal(2303, "Superordinate domain does not exist")
        if superordinate.sponsor != clid:
            raise Refusal(2201, "Superordinate domain is sponsored by another registrar")
        if not addresses:
            raise Refusal(2003, "An in-zone host needs its IP addresses")
    elif addresses:
        raise Refusal(2306, "IP addresses are only for in-zone hosts")
    host = Host(name, f"H{secrets.randbelow(10**6)}-TEST", clid, registry.now(), addresses)
    registry.hosts[name] = host
    data = element("host:creData", HOST)
    child(data, "host:name", name)
    child(data, "host:crDate", stamp(host.created_at))
    return Answer(res_data=data)


def poll(registry: Registry, clid: str, verb: ET.Element) -> Answer:
    queue = registry.queues.setdefault(clid, [])
    if verb.get("op") == "ack":
        message_id = verb.get("msgID", "")
        found = [m for m in queue if m.message_id == message_id]
        if not found:
            raise Refusal(2303, "No such message")
        queue.remove(found[0])
        return Answer(msgq=ET.Element("msgQ", {"count": str(len(queue)), "id": message_id}))
    if verb.get("op") != "req":
        raise Refusal(2005, "op must be req or ack")
    if not queue:
        return Answer(code=1300)
    head = queue[0]
    msgq = ET.Element("msgQ", {"count": str(len(queue)), "id": head.message_id})
    child(msgq, "qDate", stamp(head.queued_at))
    child(msgq, "msg", head.text)
    return Answer(code=1301, res_data=head.res_data, msgq=msgq)


HANDLERS = {
    "domain:check": domain_check,
    "domain:info": domain_info,
    "domain:create": domain_create,
    "domain:renew": domain_renew,
    "domain:update": domain_update,
    "contact:check": contact_check,
    "contact:create": contact_create,
    "contact:info": contact_info,
    "host:check": host_check,
    "host:create": host_create,
}
