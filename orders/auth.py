"""Logging in to the client area and the admin: failed attempts are throttled per account and per IP address.

After LOGIN_FAILURE_LIMIT failures within LOGIN_FAILURE_WINDOW for the same account (every look-alike of
its name counts as that account) or the same address, further attempts are refused without checking the
password until the window has passed. Counts live in the cache (Redis in production, so every web process
sees them)."""

from __future__ import annotations

import hashlib
import unicodedata

from django.conf import settings
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth.forms import AuthenticationForm
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.http import HttpRequest


def account_identity(username: str) -> str:
    """The account a typed username reaches, as one string for every look-alike of it.

    Django's log-in form strips the name and folds it with NFKC before it looks the user up, so `\uff43arol` (a
    fullwidth c) logs in as `carol`. Counting under that folded name, case-folded on top (NFKC_Casefold), gives
    every variant the same counter."""
    folded = unicodedata.normalize("NFKC", username.strip())
    return unicodedata.normalize("NFKC", folded.casefold())


def _key(kind: str, value: str) -> str:
    digest = hashlib.sha256(value.encode()).hexdigest()[:32]
    return f"login-failures:{kind}:{digest}"


def _keys(request: HttpRequest | None, username: str) -> list[str]:
    keys = [_key("account", account_identity(username))] if username else []
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
        # The username field has folded it as authenticate() will see it; none when it was missing or too long,
        # and then no password is checked either.
        username = self.cleaned_data.get("username") or ""
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
