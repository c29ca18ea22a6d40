"""An EPP session (RFC 5730 2.9.1): connect, read the greeting, log in announcing what the greeting offered, run
commands, log out.

When the server ends the session (a 2500/2501/2502 answer, or the connection closing or timing out) the session
logs in again and sends the command once more, but only for a query (check, info, poll request, transfer query):
a create, renew, transfer request or update may have been carried out before the answer was lost, so it is never
sent twice; its error says so (`EppTransportError.request_sent`) and the caller checks with an info first."""

from __future__ import annotations

import datetime
import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType

from provisioning.registrars.epp import commands, responses
from provisioning.registrars.epp.commands import ContactDetails, DomainChange, EppCommand
from provisioning.registrars.epp.errors import (
    EppCommandError,
    EppError,
    EppProtocolError,
    EppTransportError,
    EppValueError,
)
from provisioning.registrars.epp.responses import (
    Availability,
    ContactInfo,
    DomainCreated,
    DomainInfo,
    DomainRenewed,
    EppResponse,
    Greeting,
    ObjectCreated,
    QueuedMessage,
    TransferData,
)
from provisioning.registrars.epp.transport import DEFAULT_MAX_FRAME_BYTES, EppTransport

logger = logging.getLogger(__name__)


class EppSession:
    """One logged-in EPP session over one TLS connection. Not thread-safe: give each worker its own."""

    def __init__(
        self,
        *,
        host: str,
        port: int = 700,
        username: str,
        password: str,
        connect_timeout: float = 10.0,
        read_timeout: float = 30.0,
        verify: bool = True,
        ca_file: str | Path | None = None,
        client_cert: str | Path | None = None,
        client_key: str | Path | None = None,
        max_frame_bytes: int = DEFAULT_MAX_FRAME_BYTES,
        lang: str = "en",
    ) -> None:
        self._username = username
        self._password = password
        self._lang = lang
        self._transport = EppTransport(
            host=host,
            port=port,
            connect_timeout=connect_timeout,
            read_timeout=read_timeout,
            verify=verify,
            ca_file=ca_file,
            client_cert=client_cert,
            client_key=client_key,
            max_frame_bytes=max_frame_bytes,
        )
        self.greeting: Greeting | None = None
        self.logged_in = False

    # --- the session ---------------------------------------------------------------------------------------------

    def __enter__(self) -> EppSession:
        self.connect()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.close()

    def connect(self) -> Greeting:
        """Open the connection, read the greeting and log in. A refused login is an EppCommandError (2200
        permanent, 2502 transient) and leaves the connection closed."""
        self._transport.open()
        try:
            self.greeting = responses.parse_greeting(self._transport.read_frame())
            login = commands.login(
                username=self._username,
                password=self._password,
                obj_uris=[uri for uri in self.greeting.obj_uris if uri in commands.OBJECT_NAMESPACES.values()],
                ext_uris=self.greeting.ext_uris,
                lang=self._lang if self._lang in self.greeting.languages else (self.greeting.languages or ("en",))[0],
            )
            self._raise_for(self._exchange(login), login)
        except EppError:
            self._transport.close()
            raise
        self.logged_in = True
        return self.greeting

    def close(self) -> None:
        """Log out (when logged in) and close. Never raises: a logout that fails still leaves us disconnected."""
        if self.logged_in and self._transport.is_open:
            try:
                self._exchange(commands.logout())
            except EppError as error:
                logger.info("EPP logout from %s failed: %s", self._transport.host, error)
        self.logged_in = False
        self._transport.close()

    def hello(self) -> Greeting:
        """The keep-alive: the server answers <hello> with a fresh greeting."""
        self._ensure_connected()
        self._transport.send_frame(commands.hello().payload)
        self.greeting = responses.parse_greeting(self._transport.read_frame())
        return self.greeting

    def execute(self, command: EppCommand) -> EppResponse:
        """Send one command and return its successful response, or raise EppCommandError / EppTransportError."""
        self._ensure_connected()
        try:
            response = self._exchange(command)
            self._raise_for(response, command)
        except (EppTransportError, EppCommandError) as error:
            if not (command.idempotent and _session_ended(error)):
                raise
            logger.info("EPP session to %s ended (%s); again for %s", self._transport.host, error, command.name)
            self._drop()
            self.connect()
            response = self._exchange(command)
            self._raise_for(response, command)
        return response

    # --- domains -------------------------------------------------------------------------------------------------

    def domain_check(self, names: Sequence[str]) -> list[Availability]:
        return responses.domain_check(self.execute(commands.domain_check(names)))

    def domain_info(self, name: str, *, auth_info: str | None = None) -> DomainInfo:
        return responses.domain_info(self.execute(commands.domain_info(name, auth_info=auth_info)))

    def domain_create(
        self,
        *,
        name: str,
        years: int,
        registrant: str,
        auth_info: str,
        contacts: Sequence[tuple[str, str]] = (),
        nameservers: Sequence[str] = (),
    ) -> DomainCreated:
        command = commands.domain_create(
            name=name,
            years=years,
            registrant=registrant,
            auth_info=auth_info,
            contacts=contacts,
            nameservers=nameservers,
        )
        return responses.domain_created(self.execute(command))

    def domain_renew(self, *, name: str, current_expiry: datetime.date, years: int) -> DomainRenewed:
        command = commands.domain_renew(name=name, current_expiry=current_expiry, years=years)
        return responses.domain_renewed(self.execute(command))

    def domain_transfer_request(self, *, name: str, auth_info: str, years: int | None = None) -> TransferData:
        """Usually answered 1001: the transfer is pending and its end arrives as a poll message."""
        command = commands.domain_transfer(op="request", name=name, auth_info=auth_info, years=years)
        return responses.domain_transfer(self.execute(command))

    def domain_transfer_query(self, name: str, *, auth_info: str | None = None) -> TransferData:
        command = commands.domain_transfer(op="query", name=name, auth_info=auth_info)
        return responses.domain_transfer(self.execute(command))

    def domain_update(self, *, name: str, change: DomainChange) -> EppResponse:
        return self.execute(commands.domain_update(name=name, change=change))

    # --- contacts and hosts ----------------------------------------------------------------------------------------

    def contact_create(self, contact: ContactDetails) -> ObjectCreated:
        return responses.contact_created(self.execute(commands.contact_create(contact)))

    def contact_info(self, contact_id: str, *, auth_info: str | None = None) -> ContactInfo:
        return responses.contact_info(self.execute(commands.contact_info(contact_id, auth_info=auth_info)))

    def host_check(self, names: Sequence[str]) -> list[Availability]:
        return responses.host_check(self.execute(commands.host_check(names)))

    def host_create(self, *, name: str, addresses: Sequence[str] = ()) -> ObjectCreated:
        return responses.host_created(self.execute(commands.host_create(name=name, addresses=addresses)))

    def hosts_ensure(self, *, domain: str, nameservers: Sequence[str], glue: Mapping[str, Sequence[str]]) -> list[str]:
        """Create the nameservers the registry does not know yet, with glue for those under `domain` (RFC 5732:
        an in-zone host needs its addresses, an external one takes none). Returns the names created."""
        missing_glue = [host for host in nameservers if commands.is_subordinate(host, domain) and not glue.get(host)]
        if missing_glue:
            raise EppValueError(f"nameservers under {domain} need their IP addresses: {', '.join(missing_glue)}")
        if not nameservers:
            return []
        created = []
        for availability in self.host_check(nameservers):
            if availability.available:
                subordinate = commands.is_subordinate(availability.name, domain)
                addresses = glue.get(availability.name, ()) if subordinate else ()
                self.host_create(name=availability.name, addresses=addresses)
                created.append(availability.name)
        return created

    # --- the poll queue ------------------------------------------------------------------------------------------

    def poll_request(self) -> QueuedMessage | None:
        """The head of the queue (1301), or None when it is empty (1300). The message stays until acked."""
        response = self.execute(commands.poll_request())
        if response.code == 1300 or response.queue is None or not response.queue.message_id:
            return None
        return response.queue

    def poll_ack(self, message_id: str) -> int:
        """Dequeue a message; returns how many are left."""
        response = self.execute(commands.poll_ack(message_id))
        return response.queue.count if response.queue is not None else 0

    # --- internals -------------------------------------------------------------------------------------------------

    def _ensure_connected(self) -> None:
        if not (self.logged_in and self._transport.is_open):
            self._drop()
            self.connect()

    def _drop(self) -> None:
        self.logged_in = False
        self._transport.close()

    def _exchange(self, command: EppCommand) -> EppResponse:
        self._transport.send_frame(command.payload)
        try:
            response = responses.parse_response(self._transport.read_frame())
        except EppTransportError as error:
            self._drop()
            error.request_sent = True
            raise
        if command.cltrid and response.cltrid and response.cltrid != command.cltrid:
            # A reply to another command: the stream is out of step, and nothing on it can be trusted.
            self._drop()
            raise EppProtocolError(
                f"the answer to {command.name} carries clTRID {response.cltrid!r}, not ours", request_sent=True
            )
        logger.debug("EPP %s -> %s (svTRID %s)", command.name, response.code, response.svtrid)
        return response

    def _raise_for(self, response: EppResponse, command: EppCommand) -> None:
        if response.is_success:
            return
        error = response.error()
        if response.code in responses.SESSION_ENDING_CODES or command.name == "login":
            self._drop()  # the server closes the connection after these
        raise error


def _session_ended(error: EppError) -> bool:
    if isinstance(error, EppCommandError):
        return error.code in responses.SESSION_ENDING_CODES
    return isinstance(error, EppTransportError)
