"""Facts about a request that several apps need: the address of the client behind our own proxies."""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest


def client_address(request: HttpRequest | None) -> str | None:
    """The client's IP address. Behind PORTAL_TRUSTED_PROXY_HOPS proxies of our own, REMOTE_ADDR is the nearest
    proxy's, so the address is the entry that many places from the right of X-Forwarded-For: the one our
    outermost proxy saw. Entries further left were written by the client and are not trusted. With fewer entries
    than hops (a request that did not come through every proxy), REMOTE_ADDR is all we know."""
    if request is None:
        return None
    remote = request.META.get("REMOTE_ADDR") or None
    hops = settings.PORTAL_TRUSTED_PROXY_HOPS
    if hops <= 0:
        return remote
    forwarded = [part.strip() for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if part.strip()]
    return forwarded[-hops] if len(forwarded) >= hops else remote
