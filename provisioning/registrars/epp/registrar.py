"""The EPP registrar: the registrar interface (provisioning.registrars.base) spoken to an EPP registry (RFC
5730-5734) through provisioning.registrars.epp.session.

Safe to repeat, as the queue needs: a register that meets 2302 (object exists) asks domain:info, and a domain this
account sponsors is ours already (`found_existing`, with the registry's expiry date); a renew reads the registry's
current expiry first (EPP's renew names it) and does not renew again when the registry already shows the years
paid for. Every answer is the registry's: expiry dates come from <exDate>.

The account's poll queue (RFC 5730 2.9.2.3) is read a message at a time (`poll`) and acknowledged (`poll_ack`)
by the portal's poll run (provisioning.queue.registrar_poll), once the message's effect has committed.

A worker keeps one logged-in session per registry account (host, port, username) and reuses it across calls; a
broken one is closed and the next call opens another. Queries log in again by themselves (session.py); a change
is never sent twice by the session: the queue's retry does it, after the check above.
"""

from __future__ import annotations

import datetime
import hashlib
import secrets
import threading

from django.utils import timezone

from provisioning.modules.base import Setting, SettingType
from provisioning.registrars.base import (
    Availability,
    ContactsSaved,
    DomainSync,
    DomainTaken,
    EppCode,
    Lock,
    Nameservers,
    PermanentRegistrarError,
    PolledTransfer,
    PollMessage,
    Registered,
    Registrar,
    RegistrarContext,
    RegistryStatus,
    TransferRequested,
    TransferSide,
    TransferState,
    TransferSync,
    TransientRegistrarError,
    WrongEppCode,
)
from provisioning.registrars.epp.commands import ContactDetails, DomainChange
from provisioning.registrars.epp.errors import (
    EppCommandError,
    EppError,
    EppTransportError,
    EppValueError,
    ResultKind,
)
from provisioning.registrars.epp.responses import QueuedMessage
from provisioning.registrars.epp.session import EppSession
from provisioning.registrars.registry import register

LOCK_STATUS = "clientTransferProhibited"
APPROVED = ("serverApproved", "clientApproved")  # the trStatus values of a completed transfer (RFC 5731)
_sessions: dict[tuple[str, int, str], EppSession] = {}
_sessions_lock = threading.Lock()


def _registrar_error(error: EppError, *, name: str, doing: str) -> Exception:
    """An EPP failure as the queue's error: transient or permanent, the code for the admin, plain words for the
    client."""
    if isinstance(error, EppTransportError):
        return TransientRegistrarError(
            f"The registry could not be reached to {doing} {name}: {error}",
            client_message="The registry could not be reached. Nothing was changed; it is tried again.",
        )
    if isinstance(error, EppValueError):
        return PermanentRegistrarError(
            f"A value cannot be sent to the registry to {doing} {name}: {error}",
            client_message="A value was refused before it reached the registry. Nothing was changed.",
        )
    assert isinstance(error, EppCommandError)
    admin = f"EPP {error.code} {error.message}" + (f" ({error.reason})" if error.reason else "") + f": {doing} {name}"
    if error.transient:
        return TransientRegistrarError(
            admin, client_message="The registry is busy. Nothing was changed; it is tried again.", code=error.code
        )
    if error.kind is ResultKind.OBJECT_EXISTS:
        return DomainTaken(admin, client_message=f"{name} is already registered by someone else.", code=error.code)
    if error.kind is ResultKind.AUTHORIZATION:
        return WrongEppCode(
            admin, client_message=f"The registry refused the authorization (EPP code) for {name}.", code=error.code
        )
    words = {
        ResultKind.OBJECT_DOES_NOT_EXIST: "The registry does not know one of the names given (a nameserver, or the "
        "domain itself).",
        ResultKind.STATUS_PROHIBITS: "The registry does not allow this change now: the domain is locked or has "
        "another change pending.",
        ResultKind.PARAMETER: f"The registry refused a value{': ' + error.reason if error.reason else ''}.",
        ResultKind.BILLING: "The registry refused it for a billing reason: our team has been told.",
        ResultKind.AUTHENTICATION: "The registry refused our login: our team has been told.",
    }.get(error.kind, "The registry refused the change.")
    return PermanentRegistrarError(admin, client_message=words, code=error.code)


def _date(value: datetime.datetime | None) -> datetime.date | None:
    return value.date() if value is not None else None


def _contact_id(prefix: str, domain_id: int, fingerprint: str) -> str:
    """A contact handle of ours: 3-16 characters (RFC 5730 clIDType), from the domain and its details, so the
    same details give the same handle (a repeated call finds it) and new ones a new handle."""
    return f"{prefix[:4]}{domain_id}{fingerprint}"[:16]


@register
class EppRegistrar(Registrar):
    name = "epp"
    label = "EPP registry (RFC 5730)"
    polls_messages = True
    settings = (
        Setting("host", "Registry host", required=True, help="The registry's EPP server, e.g. epp.registry.example."),
        Setting("port", "Port", SettingType.INTEGER, default=700, min_value=1, max_value=65535),
        Setting("username", "Registrar login (clID)", required=True),
        Setting("password", "Password", SettingType.SECRET, required=True),
        Setting("ca_file", "CA file", help="A PEM file to verify the registry's certificate (blank: the system's)."),
        Setting("client_cert", "Client certificate file", help="PEM, when the registry asks for one."),
        Setting("client_key", "Client key file", help="PEM, for the client certificate."),
        Setting("contact_prefix", "Contact handle prefix", default="pt", max_length=4),
        Setting("timeout", "Timeout (seconds)", SettingType.INTEGER, default=20, min_value=1, max_value=120),
    )

    # --- the session -----------------------------------------------------------------------------------------

    def _session(self, settings: dict) -> EppSession:
        key = (str(settings.get("host") or ""), int(settings.get("port") or 700), str(settings.get("username") or ""))
        if not key[0] or not key[2]:
            raise PermanentRegistrarError(
                "The EPP registrar has no host or login configured: set them in its settings.",
                client_message="The registrar is not set up yet: our team has been told.",
            )
        with _sessions_lock:
            session = _sessions.get(key)
        if session is not None and session.logged_in:
            return session
        timeout = float(settings.get("timeout") or 20)
        session = EppSession(
            host=key[0],
            port=key[1],
            username=key[2],
            password=str(settings.get("password") or ""),
            connect_timeout=timeout,
            read_timeout=timeout,
            ca_file=settings.get("ca_file") or None,
            client_cert=settings.get("client_cert") or None,
            client_key=settings.get("client_key") or None,
        )
        session.connect()
        with _sessions_lock:
            _sessions[key] = session
        return session

    def _run(self, context: RegistrarContext, doing: str, work):
        return self._with_session(context.settings, context.domain.name, doing, work)

    def _with_session(self, settings: dict, name: str, doing: str, work):
        try:
            session = self._session(settings)
            return work(session)
        except EppError as error:
            if isinstance(error, EppTransportError):
                close_sessions()  # the next call opens a fresh one
            raise _registrar_error(error, name=name, doing=doing) from error

    def _ours(self, context: RegistrarContext, session: EppSession):
        return _sponsored(session, context.domain.name, str(context.settings.get("username") or ""))

    def _registrant(self, context: RegistrarContext, session: EppSession, contact: dict | None = None) -> str:
        """Our contact handle for the domain's registrant (made at the registry when it is not there yet)."""
        details = contact or {}
        registrant = context.domain.registrant
        name = details.get("name") or (registrant.name if registrant else "")
        email = details.get("email") or (registrant.email if registrant else "")
        fingerprint = hashlib.sha256(f"{name}|{email}|{sorted(details.items())}".encode()).hexdigest()[:6]
        handle = _contact_id(str(context.settings.get("contact_prefix") or "pt"), context.domain.domain_id, fingerprint)
        street = details.get("street")
        contact_details = ContactDetails(
            contact_id=handle,
            name=name,
            email=email,
            organisation=details.get("organisation") or (registrant.organisation if registrant else ""),
            street=(street,) if isinstance(street, str) and street else tuple(registrant.street if registrant else ()),
            city=details.get("city") or (registrant.city if registrant else "") or "-",
            state=details.get("state") or (registrant.state if registrant else ""),
            postcode=details.get("postcode") or (registrant.postcode if registrant else ""),
            country_code=(details.get("country") or (registrant.country if registrant else "") or "").upper(),
            voice=details.get("phone") or (registrant.phone if registrant else ""),
            auth_info=secrets.token_urlsafe(12),
        )
        try:
            session.contact_create(contact_details)
        except EppCommandError as error:
            if error.kind is not ResultKind.OBJECT_EXISTS:  # ours from an earlier attempt: the same handle
                raise
        return handle

    # --- the actions -------------------------------------------------------------------------------------------

    def check(self, context: RegistrarContext) -> Availability:
        def work(session: EppSession) -> Availability:
            answer = session.domain_check([context.domain.name])[0]
            return Availability(name=answer.name, available=answer.available, reason=answer.reason)

        return self._run(context, "check", work)

    def register(self, context: RegistrarContext) -> Registered:
        domain = context.domain

        def work(session: EppSession) -> Registered:
            mine = self._ours(context, session)
            if mine is not None:
                return Registered(
                    _date(mine.expires_at), message="The registry shows it ours already.", found_existing=True
                )
            registrant = self._registrant(context, session)
            session.hosts_ensure(domain=domain.name, nameservers=list(domain.nameservers), glue={})
            created = session.domain_create(
                name=domain.name,
                years=domain.years,
                registrant=registrant,
                auth_info=secrets.token_urlsafe(12),
                contacts=[(role, registrant) for role in ("admin", "tech", "billing")],
                nameservers=list(domain.nameservers),
            )
            return Registered(_date(created.expires_at), message=f"Registered until {_date(created.expires_at)}.")

        return self._run(context, "register", work)

    def transfer(self, context: RegistrarContext) -> TransferRequested:
        domain = context.domain

        def work(session: EppSession) -> TransferRequested:
            mine = self._ours(context, session)
            if mine is not None:
                return TransferRequested(TransferState.COMPLETED, "Ours already.", expiry_date=_date(mine.expires_at))
            data = session.domain_transfer_request(name=domain.name, auth_info=domain.epp_code, years=domain.years)
            if data.status in APPROVED:
                return TransferRequested(TransferState.COMPLETED, "Transferred.", expiry_date=_date(data.expires_at))
            return TransferRequested(TransferState.PENDING, f"Transfer requested ({data.status}).")

        return self._run(context, "transfer", work)

    def renew(self, context: RegistrarContext) -> Registered:
        domain = context.domain
        years = int(context.params.get("years") or domain.years or 1)

        def work(session: EppSession) -> Registered:
            info = self._ours(context, session)
            if info is None or info.expires_at is None:
                raise PermanentRegistrarError(
                    f"The registry does not show {domain.name} as ours: it cannot be renewed here.",
                    client_message=f"{domain.name} is not held at this registrar any more.",
                )
            current = info.expires_at.date()
            paid_for = domain.expiry_date.replace(year=domain.expiry_date.year + years) if domain.expiry_date else None
            if paid_for is not None and current >= paid_for:
                return Registered(current, message="The registry shows the years renewed already.", found_existing=True)
            renewed = session.domain_renew(name=domain.name, current_expiry=current, years=years)
            return Registered(_date(renewed.expires_at), message=f"Renewed until {_date(renewed.expires_at)}.")

        return self._run(context, "renew", work)

    def get_nameservers(self, context: RegistrarContext) -> Nameservers:
        return self._run(
            context,
            "read the nameservers of",
            lambda s: Nameservers(tuple(s.domain_info(context.domain.name).nameservers)),
        )

    def save_nameservers(self, context: RegistrarContext) -> Nameservers:
        wanted = [host.lower() for host in context.params.get("nameservers") or ()]

        def work(session: EppSession) -> Nameservers:
            current = list(session.domain_info(context.domain.name).nameservers)
            session.hosts_ensure(domain=context.domain.name, nameservers=wanted, glue={})
            change = DomainChange(
                add_nameservers=[h for h in wanted if h not in current],
                remove_nameservers=[h for h in current if h not in wanted],
            )
            if not change.is_empty:
                session.domain_update(name=context.domain.name, change=change)
            return Nameservers(tuple(wanted), message="Nameservers saved at the registry.")

        return self._run(context, "change the nameservers of", work)

    def get_lock(self, context: RegistrarContext) -> Lock:
        return self._run(
            context, "read the lock of", lambda s: Lock(LOCK_STATUS in s.domain_info(context.domain.name).statuses)
        )

    def save_lock(self, context: RegistrarContext) -> Lock:
        locked = bool(context.params.get("locked"))

        def work(session: EppSession) -> Lock:
            statuses = session.domain_info(context.domain.name).statuses
            if (LOCK_STATUS in statuses) != locked:
                change = (
                    DomainChange(add_statuses=[LOCK_STATUS]) if locked else DomainChange(remove_statuses=[LOCK_STATUS])
                )
                session.domain_update(name=context.domain.name, change=change)
            return Lock(locked, message="Locked at the registry." if locked else "Unlocked at the registry.")

        return self._run(context, "change the lock of", work)

    def get_epp_code(self, context: RegistrarContext) -> EppCode:
        return self._run(
            context, "read the EPP code of", lambda s: EppCode(s.domain_info(context.domain.name).auth_info)
        )

    def save_contacts(self, context: RegistrarContext) -> ContactsSaved:
        def work(session: EppSession) -> ContactsSaved:
            handle = self._registrant(context, session, dict(context.params.get("registrant") or {}))
            session.domain_update(name=context.domain.name, change=DomainChange(registrant=handle))
            return ContactsSaved(message=f"Registrant is now {handle}.")

        return self._run(context, "change the contacts of", work)

    def sync(self, context: RegistrarContext) -> DomainSync:
        def work(session: EppSession) -> DomainSync:
            try:
                info = session.domain_info(context.domain.name)
            except EppCommandError as error:
                if error.kind is ResultKind.OBJECT_DOES_NOT_EXIST:
                    return DomainSync(RegistryStatus.GONE, message="The registry does not know it.")
                if error.kind is ResultKind.AUTHORIZATION:
                    return DomainSync(RegistryStatus.TRANSFERRED_AWAY, message="Another registrar holds it.")
                raise
            if info.sponsor != context.settings.get("username"):
                return DomainSync(RegistryStatus.TRANSFERRED_AWAY, message=f"Sponsored by {info.sponsor}.")
            expiry = _date(info.expires_at)
            if "pendingCreate" in info.statuses:
                return DomainSync(RegistryStatus.PENDING, expiry)
            expired = expiry is not None and expiry < timezone.localdate()
            return DomainSync(RegistryStatus.EXPIRED if expired else RegistryStatus.ACTIVE, expiry)

        return self._run(context, "sync", work)

    def transfer_sync(self, context: RegistrarContext) -> TransferSync:
        def work(session: EppSession) -> TransferSync:
            data = session.domain_transfer_query(context.domain.name, auth_info=context.domain.epp_code or None)
            if data.status == "pending":
                return TransferSync(TransferState.PENDING, message="Still pending at the registry.")
            if data.status in APPROVED:
                mine = self._ours(context, session)
                expiry = _date(mine.expires_at) if mine is not None else _date(data.expires_at)
                return TransferSync(TransferState.COMPLETED, expiry, message=f"Transfer {data.status}.")
            return TransferSync(TransferState.FAILED, reason=f"The transfer was {data.status} at the registry.")

        return self._run(context, "follow the transfer of", work)

    # --- the account's message queue ----------------------------------------------------------------------------

    def poll(self, settings: dict) -> PollMessage | None:
        username = str(settings.get("username") or "")

        def work(session: EppSession) -> PollMessage | None:
            queued = session.poll_request()
            if queued is None:
                return None
            return PollMessage(
                message_id=queued.message_id,
                text=queued.message,
                queued_at=queued.queued_at,
                remaining=queued.count,
                transfer=_polled_transfer(session, queued, username) if queued.transfer is not None else None,
            )

        return self._with_session(settings, f"the account {username}", "read the message queue of", work)

    def poll_ack(self, settings: dict, message_id: str) -> None:
        def work(session: EppSession) -> None:
            try:
                session.poll_ack(message_id)
            except EppCommandError as error:
                if error.kind is not ResultKind.OBJECT_DOES_NOT_EXIST:  # 2303: no such message, acknowledged already
                    raise

        username = str(settings.get("username") or "")
        self._with_session(settings, f"message {message_id} of {username}", "acknowledge", work)


def _sponsored(session: EppSession, name: str, username: str):
    """The domain's info if this account sponsors it, else None (someone else's, or not registered)."""
    try:
        info = session.domain_info(name)
    except EppCommandError as error:
        if error.kind in (ResultKind.OBJECT_DOES_NOT_EXIST, ResultKind.AUTHORIZATION):
            return None
        raise
    return info if info.sponsor == username else None


def _polled_transfer(session: EppSession, queued: QueuedMessage, username: str) -> PolledTransfer:
    """A poll message's <trnData> for the portal: which end we are, what its status means, and for a completed
    transfer in the expiry date (the message's exDate, else the registry's info of the domain, now ours)."""
    data = queued.transfer
    assert data is not None
    side = (
        TransferSide.GAINING
        if data.requested_by == username
        else TransferSide.LOSING
        if data.acting_by == username
        else None
    )
    if data.status == "pending":
        return PolledTransfer(data.name.lower(), data.status, TransferState.PENDING, side)
    if data.status in APPROVED:
        expiry = _date(data.expires_at)
        if expiry is None and side is TransferSide.GAINING:
            mine = _sponsored(session, data.name, username)
            expiry = _date(mine.expires_at) if mine is not None else None
        return PolledTransfer(data.name.lower(), data.status, TransferState.COMPLETED, side, expiry)
    reason = f"The transfer was {data.status} at the registry" + (f": {queued.message}" if queued.message else ".")
    return PolledTransfer(data.name.lower(), data.status, TransferState.FAILED, side, reason=reason)


def close_sessions() -> None:
    """Log out of every kept session (a worker shutting down, a test's end)."""
    with _sessions_lock:
        sessions = list(_sessions.values())
        _sessions.clear()
    for session in sessions:
        session.close()
