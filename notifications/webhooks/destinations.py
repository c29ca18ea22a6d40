"""Where a webhook may go. An endpoint's URL must be http(s); in production (WEBHOOKS_ALLOW_PRIVATE_DESTINATIONS
off) a host that resolves to a loopback, private, link-local or otherwise non-public address is refused, when the
endpoint is saved and again at every delivery. The sender then connects to the address checked here, never
resolving the name a second time, so a DNS answer that changes in between (rebinding) cannot reach inside."""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

from django.conf import settings


class DestinationRefused(Exception):
    """The URL may not be delivered to; the message says why, for the admin."""


class DestinationUnresolved(DestinationRefused):
    """The host name does not resolve (now): refused when saved, retried when delivering."""


@dataclass(frozen=True)
class Destination:
    scheme: str  # http or https
    host: str  # the name as written (the Host header and the TLS server name)
    port: int
    path: str  # path and query
    address: str  # the checked IP address to connect to


# IPv6 ranges whose last 32 bits are an IPv4 address that a translator (NAT64) or the host itself
# (IPv4-compatible, ::a.b.c.d, deprecated but still routed by some stacks) reaches: checked as that IPv4 address.
_LAST_32_BITS_IPV4 = tuple(ipaddress.ip_network(network) for network in ("64:ff9b::/96", "64:ff9b:1::/48", "::/96"))


def private_allowed() -> bool:
    return bool(getattr(settings, "WEBHOOKS_ALLOW_PRIVATE_DESTINATIONS", False))


def address_refused(address: str) -> bool:
    """Whether an IP address is inside (loopback, private, link-local, ...) rather than on the public internet."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address):
        embedded = ip.ipv4_mapped or ip.sixtofour or (ip.teredo[1] if ip.teredo else None)
        if embedded is None and any(ip in network for network in _LAST_32_BITS_IPV4):
            embedded = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
        if embedded is not None:
            ip = embedded
    return not ip.is_global or ip.is_multicast


def url_parts(url: str) -> tuple[str, str, int, str]:
    """(scheme, host, port, path) of an http(s) URL, or DestinationRefused saying what is wrong with it."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError as error:
        raise DestinationRefused(f"The URL is not valid: {error}.") from None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise DestinationRefused("The URL must start with http:// or https://.")
    if not parts.hostname:
        raise DestinationRefused("The URL has no host name.")
    if parts.username or parts.password:
        raise DestinationRefused("The URL may not carry a user name or password.")
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    return scheme, parts.hostname, port or (443 if scheme == "https" else 80), path


def _resolve(host: str, port: int) -> list[str]:
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as error:
        raise DestinationUnresolved(f"The host {host} does not resolve ({error}).") from None
    return list(dict.fromkeys(info[4][0] for info in infos))


def destination_check(url: str, *, resolve: bool = True) -> Destination | None:
    """The destination of `url` with the address to connect to, or DestinationRefused. With `resolve` off (when
    an endpoint is saved and private destinations are allowed) only the URL's form is checked."""
    scheme, host, port, path = url_parts(url)
    allowed = private_allowed()
    if not resolve and allowed:
        return None
    addresses = _resolve(host, port)
    if not allowed:
        refused = [address for address in addresses if address_refused(address)]
        if refused:
            raise DestinationRefused(
                f"The host {host} resolves to {refused[0]}, a loopback, private or link-local address: "
                "webhooks are only sent to public addresses."
            )
    return Destination(scheme=scheme, host=host, port=port, path=path, address=addresses[0])
