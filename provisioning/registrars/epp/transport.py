"""EPP over TLS (RFC 5734): one TCP connection, TLS on it, and frames of a 4-byte big-endian length that counts
itself, followed by that many bytes of UTF-8 XML.

Every failure of the connection (refused, timed out, a certificate that does not verify, the peer closing, a
length that is impossible or over the limit) is an `EppTransportError`; after one the connection is closed, since
the stream can no longer be trusted to be at a frame boundary."""

from __future__ import annotations

import contextlib
import socket
import ssl
import struct
from pathlib import Path

from provisioning.registrars.epp.errors import EppTransportError

HEADER = struct.Struct("!I")
DEFAULT_MAX_FRAME_BYTES = 1_000_000  # a domain:info is a few kB; this only stops a runaway length prefix


def encode_frame(payload: bytes) -> bytes:
    """The payload with its RFC 5734 header: the total length, header included."""
    return HEADER.pack(len(payload) + HEADER.size) + payload


def tls_context(
    *,
    verify: bool = True,
    ca_file: str | Path | None = None,
    client_cert: str | Path | None = None,
    client_key: str | Path | None = None,
) -> ssl.SSLContext:
    """A client context: TLS 1.2 or later; the server's certificate and name checked against `ca_file`, or the
    system's store, unless `verify` is False; a client certificate when the registry asks for one."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    if verify:
        if ca_file:
            context.load_verify_locations(cafile=str(ca_file))
        else:
            context.load_default_certs(ssl.Purpose.SERVER_AUTH)
    else:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    if client_cert:
        context.load_cert_chain(str(client_cert), str(client_key) if client_key else None)
    return context


class EppTransport:
    """One TLS connection speaking RFC 5734 frames. Not thread-safe: one session uses it at a time."""

    def __init__(
        self,
        *,
        host: str,
        port: int,
        connect_timeout: float = 10.0,
        read_timeout: float = 30.0,
        verify: bool = True,
        ca_file: str | Path | None = None,
        client_cert: str | Path | None = None,
        client_key: str | Path | None = None,
        max_frame_bytes: int = DEFAULT_MAX_FRAME_BYTES,
    ) -> None:
        self.host = host
        self.port = port
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout
        self.max_frame_bytes = max_frame_bytes
        self._verify = verify
        self._ca_file = ca_file
        self._client_cert = client_cert
        self._client_key = client_key
        self._socket: ssl.SSLSocket | None = None

    @property
    def is_open(self) -> bool:
        return self._socket is not None

    def open(self) -> None:
        """Connect and complete the TLS handshake within `connect_timeout`."""
        self.close()
        try:
            context = tls_context(
                verify=self._verify, ca_file=self._ca_file, client_cert=self._client_cert, client_key=self._client_key
            )
        except (OSError, ssl.SSLError) as error:  # an unreadable CA file or client key
            raise EppTransportError(f"TLS settings for {self.host}:{self.port} cannot be loaded: {error}") from error
        try:
            raw = socket.create_connection((self.host, self.port), timeout=self.connect_timeout)
        except OSError as error:  # refused, unreachable, timed out, name not found
            raise EppTransportError(f"cannot connect to {self.host}:{self.port}: {error}") from error
        try:
            tls = context.wrap_socket(raw, server_hostname=self.host)
        except (OSError, ssl.SSLError, ssl.CertificateError) as error:
            raw.close()
            raise EppTransportError(f"TLS handshake with {self.host}:{self.port} failed: {error}") from error
        tls.settimeout(self.read_timeout)
        self._socket = tls

    def send_frame(self, payload: bytes) -> None:
        sock = self._require_open()
        if len(payload) + HEADER.size > self.max_frame_bytes:
            raise EppTransportError(f"refusing to send a frame of {len(payload)} bytes")
        try:
            sock.sendall(encode_frame(payload))
        except (OSError, ssl.SSLError) as error:
            self.close()
            raise EppTransportError(f"sending to {self.host}:{self.port} failed: {error}") from error

    def read_frame(self) -> bytes:
        """The next frame's payload; waits at most `read_timeout` for each piece of it."""
        (length,) = HEADER.unpack(self._read_exactly(HEADER.size))
        if length < HEADER.size or length > self.max_frame_bytes:
            self.close()
            raise EppTransportError(
                f"{self.host}:{self.port} announced a frame of {length} bytes (limit {self.max_frame_bytes})"
            )
        return self._read_exactly(length - HEADER.size)

    def close(self) -> None:
        if self._socket is not None:
            sock, self._socket = self._socket, None
            with contextlib.suppress(OSError):
                sock.close()

    def _require_open(self) -> ssl.SSLSocket:
        if self._socket is None:
            raise EppTransportError(f"no open connection to {self.host}:{self.port}")
        return self._socket

    def _read_exactly(self, count: int) -> bytes:
        sock = self._require_open()
        chunks: list[bytes] = []
        remaining = count
        while remaining:
            try:
                chunk = sock.recv(min(remaining, 65536))
            except (OSError, ssl.SSLError) as error:  # socket.timeout is an OSError
                self.close()
                raise EppTransportError(
                    f"reading from {self.host}:{self.port} failed: {error or 'timed out'}"
                ) from error
            if not chunk:
                self.close()
                raise EppTransportError(f"{self.host}:{self.port} closed the connection")
            chunks.append(chunk)
            remaining -= len(chunk)
        return b"".join(chunks)
