"""Facts about a request that several apps need: the address of the client behind our own proxies, and the
billing account of the logged-in user."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.http import Http404, HttpRequest


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


def client_of(request: HttpRequest) -> models.Model:
    """The logged-in user's billing account (a billing Client); a user without one (staff) has no client area
    pages, so this is a 404."""
    client = getattr(request.user, "client", None)
    if client is None:
        raise Http404("This login has no client account.")
    return client
