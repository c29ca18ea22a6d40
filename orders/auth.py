"""Logging in to the client area and the admin: failed attempts are throttled per account and per IP address.

After LOGIN_FAILURE_LIMIT failures within LOGIN_FAILURE_WINDOW for the same account or the same address,
further attempts are refused without checking the password until the window has passed. Counts live in the
cache (Redis in production, so every web process sees them)."""

from __future__ import annotations

import hashlib

from django.conf import settings
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth.forms import AuthenticationForm
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.http import HttpRequest


def _key(kind: str, value: str) -> str:
    digest = hashlib.sha256(value.strip().lower().encode()).hexdigest()[:32]
    return f"login-failures:{kind}:{digest}"


def _keys(request: HttpRequest | None, username: str) -> list[str]:
    keys = [_key("account", username)] if username else []
    if request is not None and (address := request.META.get("REMOTE_ADDR")):
        keys.append(_key("ip", address))
    return keys


def login_refused(request: HttpRequest | None, username: str) -> bool:
    limit = settings.LOGIN_FAILURE_LIMIT
    counts = cache.get_many(_keys(request, username))
    return any(count >= limit for count in counts.values())


def login_failed(request: HttpRequest | None, username: str) -> None:
    window = int(settings.LOGIN_FAILURE_WINDOW.total_seconds())
    for key in _keys(request, username):
        # add() starts the window at the first failure; incr() keeps its expiry.
        if not cache.add(key, 1, timeout=window):
            try:
                cache.incr(key)
            except ValueError:  # expired between add() and incr()
                cache.add(key, 1, timeout=window)


class _Throttled:
    """Refuse a throttled login before the password is checked; count each failure."""

    def clean(self):
        username = self.data.get("username", "") if self.data else ""
        if login_refused(self.request, username):
            minutes = int(settings.LOGIN_FAILURE_WINDOW.total_seconds() // 60)
            raise ValidationError(
                f"Too many failed log-in attempts. Try again in {minutes} minutes, or reset your password.",
                code="throttled",
            )
        try:
            return super().clean()
        except ValidationError:
            login_failed(self.request, username)
            raise


class ThrottledAuthenticationForm(_Throttled, AuthenticationForm):
    pass


class ThrottledAdminAuthenticationForm(_Throttled, AdminAuthenticationForm):
    pass
