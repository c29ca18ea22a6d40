"""One POST to a receiver, with limits: a connect timeout, a read timeout, a deadline for the whole answer, and a
cap on the answer's size. It connects to the address the destination check approved (the Host header and the TLS
server name stay the URL's host), so the name is never resolved twice. Returns what happened as data; the
delivery decides what it means."""

from __future__ import annotations

import time
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


def _pool(destination: Destination, timeout: urllib3.Timeout) -> urllib3.HTTPConnectionPool:
    if destination.scheme == "https":
        import certifi

        return urllib3.HTTPSConnectionPool(
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
    return urllib3.HTTPConnectionPool(destination.address, destination.port, timeout=timeout, retries=False, maxsize=1)


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
    pool = _pool(destination, urllib3.Timeout(connect=connect, read=read))
    try:
        response = pool.urlopen(
            "POST",
            destination.path,
            body=body,
            headers={**headers, "Host": host_header},
            redirect=False,
            preload_content=False,
            assert_same_host=False,
        )
    except urllib3.exceptions.HTTPError as error:
        pool.close()
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
            if time.monotonic() - started > deadline:
                return Answer(
                    status_code=None, latency_ms=elapsed_ms(), error=f"timed out: answer took over {deadline} s"
                )
    except urllib3.exceptions.HTTPError as error:
        return Answer(status_code=None, latency_ms=elapsed_ms(), error=f"{_kind(error)} while reading: {error}"[:500])
    finally:
        response.release_conn()
        response.close()
        pool.close()
    return Answer(
        status_code=response.status,
        latency_ms=elapsed_ms(),
        excerpt=received[: EXCERPT_CHARS * 2].decode("utf-8", "replace")[:EXCERPT_CHARS],
        retry_after=response.headers.get("Retry-After"),
    )
