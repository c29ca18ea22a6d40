"""What can go wrong talking EPP, each marked transient (worth retrying later) or permanent (retrying the same
command changes nothing)."""

from __future__ import annotations

import enum


class EppError(Exception):
    """Base of every EPP failure; `transient` says whether the same command may succeed later."""

    transient: bool = True


class EppTransportError(EppError):
    """The connection failed: refused, timed out, TLS refused, closed under us, or a frame that is not EPP.

    Always transient. `request_sent` is True when the command had left before the failure: its outcome at the
    registry is then unknown, and a create or a renew must be checked (info) before it is sent again."""

    transient = True

    def __init__(self, message: str, *, request_sent: bool = False) -> None:
        super().__init__(message)
        self.request_sent = request_sent


class EppProtocolError(EppTransportError):
    """The peer answered with something that is not an EPP frame we can read (bad XML, a DOCTYPE, no result, a
    reply to another command). Transient like any broken connection: the session is closed and a new one may do."""


class ResultKind(enum.StrEnum):
    """What an EPP result code (RFC 5730 section 3) means for the caller."""

    SUCCESS = "success"
    AUTHENTICATION = "authentication"  # 2200: the login was refused
    AUTHORIZATION = "authorization"  # 2201/2202: not ours, or a wrong authInfo (EPP code)
    OBJECT_EXISTS = "object_exists"  # 2302: taken
    OBJECT_DOES_NOT_EXIST = "object_does_not_exist"  # 2303
    STATUS_PROHIBITS = "status_prohibits"  # 2304/2305: a lock or a pending action is in the way
    PENDING_TRANSFER = "pending_transfer"  # 2300/2301
    PARAMETER = "parameter"  # 2003-2005, 2306, 2308: the registry refuses a value
    NOT_ELIGIBLE = "not_eligible"  # 2105/2106
    BILLING = "billing"  # 2104: the registrar account has no funds
    PROTOCOL = "protocol"  # 2000-2002, 2100-2103, 2307: we sent something the server does not do
    COMMAND_FAILED = "command_failed"  # 2400: the server's own fault
    SESSION = "session"  # 2500-2502: the server ends the session


class EppCommandError(EppError):
    """The server answered with a result code of 2000 or more."""

    def __init__(self, code: int, message: str, *, transient: bool, kind: ResultKind, reason: str = "") -> None:
        super().__init__(f"EPP {code}: {message}" + (f" ({reason})" if reason else ""))
        self.code = code
        self.message = message
        self.transient = transient
        self.kind = kind
        self.reason = reason  # the server's <extValue><reason>, when it gave one


class EppValueError(EppError, ValueError):
    """A value that cannot go into an EPP command (empty, or characters XML cannot carry). Nothing was sent."""

    transient = False
