"""One POST to a receiver, with limits: a connect timeout, a read timeout, a deadline for the whole exchange, and
a cap on the answer's size. The deadline is a timer that shuts the socket down when it runs out, so a receiver
that drips its status line, headers or body a byte at a time (each read well within the read timeout) is cut off
at the deadline too. It connects to the address the destination check approved (the Host header and the TLS
server name stay the URL's host), so the name is never resolved twice. Returns what happened as data; the
delivery decides what it means."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import urllib3
from django.conf import settings

from notifications.webhooks.destinations import Destination

EXCERPT_CHARS = 1000  # kept per attempt
CHUNK = 16 * 1024


@dataclass(frozen=True)
class Answer:
    status_code: int | None  # None when there was no answer (timeout, connection error, too big)
    latency_ms: int
    excerpt: str = ""
    error: str = ""
    retry_after: str | None = None


def _limits() -> tuple[float, float, float, int]:
    return (
        float(getattr(settings, "WEBHOOKS_CONNECT_TIMEOUT", 5)),
        float(getattr(settings, "WEBHOOKS_READ_TIMEOUT", 10)),
        float(getattr(settings, "WEBHOOKS_DEADLINE", 15)),
        int(getattr(settings, "WEBHOOKS_MAX_RESPONSE_BYTES", 64 * 1024)),
    )


class _Deadline:
    """Shuts down the exchange's socket when `seconds` have passed: the read blocked on it returns at once."""

    def __init__(self, seconds: float) -> None:
        self.lock = threading.Lock()
        self.sock: socket.socket | None = None
        self.passed = False
        self.timer = threading.Timer(max(seconds, 0.0), self._pass)
        self.timer.daemon = True

    def _shut(self) -> None:
        if self.sock is not None:
            # The TCP socket's shutdown (the TLS one wraps the same descriptor): the read blocked on it, in the
            # status line, the headers, the body or the TLS handshake, sees the end of the stream at once.
            with contextlib.suppress(OSError):  # already closed
                self.sock.shutdown(socket.SHUT_RDWR)

    def _pass(self) -> None:
        with self.lock:
            self.passed = True
            self._shut()

    def watch(self, sock: socket.socket) -> None:
        with self.lock:
            self.sock = sock
            if self.passed:
                self._shut()

    def start(self) -> None:
        self.timer.start()

    def stop(self) -> bool:
        """Stop the timer; whether the deadline had passed (and the socket was shut) by then."""
        with self.lock:
            self.timer.cancel()
            return self.passed


def _watched(connection_class: type, deadline: _Deadline) -> type:
    class Watched(connection_class):
        def _new_conn(self) -> socket.socket:  # urllib3's hook that opens the TCP socket, before any TLS
            sock = super()._new_conn()
            deadline.watch(sock)
            return sock

    Watched.__name__ = Watched.__qualname__ = connection_class.__name__  # as errors name it
    return Watched


def _pool(destination: Destination, timeout: urllib3.Timeout, deadline: _Deadline) -> urllib3.HTTPConnectionPool:
    if destination.scheme == "https":
        import certifi

        pool = urllib3.HTTPSConnectionPool(
            destination.address,
            destination.port,
            timeout=timeout,
            retries=False,
            maxsize=1,
            server_hostname=destination.host,
            assert_hostname=destination.host,
            cert_reqs="CERT_REQUIRED",
            ca_certs=certifi.where(),
        )
    else:
        pool = urllib3.HTTPConnectionPool(
            destination.address, destination.port, timeout=timeout, retries=False, maxsize=1
        )
    pool.ConnectionCls = _watched(pool.ConnectionCls, deadline)
    return pool


def _kind(error: Exception) -> str:
    # NewConnectionError is a ConnectTimeoutError in urllib3's hierarchy, but a refused connection is no timeout.
    if isinstance(error, urllib3.exceptions.TimeoutError) and not isinstance(
        error, urllib3.exceptions.NewConnectionError
    ):
        return "timed out"
    return "connection failed"


def post(destination: Destination, body: bytes, headers: dict[str, str]) -> Answer:
    connect, read, deadline, max_bytes = _limits()
    started = time.monotonic()

    def elapsed_ms() -> int:
        return int((time.monotonic() - started) * 1000)

    default_port = 443 if destination.scheme == "https" else 80
    host_header = destination.host if destination.port == default_port else f"{destination.host}:{destination.port}"
    if ":" in destination.host:  # an IPv6 literal
        host_header = f"[{destination.host}]" + ("" if destination.port == default_port else f":{destination.port}")
    watchdog = _Deadline(deadline)
    pool = _pool(destination, urllib3.Timeout(connect=min(connect, deadline), read=read), watchdog)
    watchdog.start()
    try:
        return _exchange(pool, destination, body, {**headers, "Host": host_header}, watchdog, max_bytes, elapsed_ms)
    finally:
        watchdog.stop()
        pool.close()


def _exchange(
    pool: urllib3.HTTPConnectionPool,
    destination: Destination,
    body: bytes,
    headers: dict[str, str],
    watchdog: _Deadline,
    max_bytes: int,
    elapsed_ms: Callable[[], int],
) -> Answer:
    def too_late() -> Answer:
        return Answer(status_code=None, latency_ms=elapsed_ms(), error=f"timed out: over {watchdog.timer.interval} s")

    try:
        response = pool.urlopen(
            "POST",
            destination.path,
            body=body,
            headers=headers,
            redirect=False,
            preload_content=False,
            assert_same_host=False,
        )
    except (urllib3.exceptions.HTTPError, OSError) as error:
        if watchdog.passed:
            return too_late()
        return Answer(status_code=None, latency_ms=elapsed_ms(), error=f"{_kind(error)}: {error}"[:500])
    try:
        declared = response.headers.get("Content-Length", "")
        if declared.isdigit() and int(declared) > max_bytes:
            return Answer(
                status_code=None,
                latency_ms=elapsed_ms(),
                error=f"answer too big: {declared} bytes declared, at most {max_bytes} read (HTTP {response.status})",
            )
        received = bytearray()
        for chunk in response.stream(CHUNK):
            received += chunk
            if len(received) > max_bytes:
                return Answer(
                    status_code=None,
                    latency_ms=elapsed_ms(),
                    error=f"answer too big: more than {max_bytes} bytes (HTTP {response.status})",
                )
    except (urllib3.exceptions.HTTPError, OSError) as error:
        if watchdog.passed:
            return too_late()
        return Answer(status_code=None, latency_ms=elapsed_ms(), error=f"{_kind(error)} while reading: {error}"[:500])
    finally:
        response.release_conn()
        response.close()
    if watchdog.stop():  # the stream ended because the deadline shut it (an answer without a Content-Length)
        return too_late()
    return Answer(
        status_code=response.status,
        latency_ms=elapsed_ms(),
        excerpt=received[: EXCERPT_CHARS * 2].decode("utf-8", "replace")[:EXCERPT_CHARS],
        retry_after=response.headers.get("Retry-After"),
    )
