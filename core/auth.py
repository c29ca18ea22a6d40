"""Logging in to the client area and the admin: failed attempts are throttled per account and per IP address.

After LOGIN_FAILURE_LIMIT failures within LOGIN_FAILURE_WINDOW for the same account (every look-alike of
its name counts as that account) or the same address, further attempts are refused without checking the
password until the window has passed. Counts live in the cache (Redis in production, so every web process
sees them)."""

from __future__ import annotations

import contextlib
import hashlib
import unicodedata
from datetime import timedelta

from django.conf import settings
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth import get_user_model
from django.contrib.auth import views as auth_views
from django.contrib.auth.forms import AuthenticationForm, PasswordResetForm
from django.core import signing
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.http import HttpRequest
from django.utils.crypto import constant_time_compare, salted_hmac

from core.requests import client_address


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


def _account_key(username: str) -> str:
    return _key("account", account_identity(username))


def _address_keys(request: HttpRequest | None, kind: str = "ip") -> list[str]:
    if address := client_address(request):
        return [_key(kind, address)]
    return []


def _count(key: str, window: timedelta) -> int:
    """One more in `key`'s window; add() starts the window at the first, incr() keeps its expiry."""
    timeout = int(window.total_seconds())
    if cache.add(key, 1, timeout=timeout):
        return 1
    try:
        return cache.incr(key)
    except ValueError:  # expired between add() and incr()
        cache.add(key, 1, timeout=timeout)
        return 1


# --- Known devices ------------------------------------------------------------------------------------------
# A browser that logged in to an account, or reset its password, gets a signed cookie for that account. With
# it, the account's and the address's failure counts do not refuse it: it has a count of its own. So nobody
# who knows a client's email can keep that client out, and a password reset always gets the client back in.

KNOWN_DEVICE_COOKIE = "portal_known_device"
# The name it had when this module was orders.auth: cookies already given keep working. Never change it.
_KNOWN_DEVICE_SALT = "orders.auth.known-device"


def _password_stamp(user) -> str:
    # Changes with the password, so a cookie from before a reset or change lets nobody through.
    return salted_hmac(_KNOWN_DEVICE_SALT, user.password, algorithm="sha256").hexdigest()[:32]


def known_device_token(user) -> str:
    return signing.dumps({"user": user.pk, "stamp": _password_stamp(user)}, salt=_KNOWN_DEVICE_SALT)


def _known_device(request: HttpRequest | None, username: str) -> str | None:
    """The browser's known-device token when it is valid for the account `username` reaches, else None."""
    token = request.COOKIES.get(KNOWN_DEVICE_COOKIE) if request is not None else None
    if not token or not username:
        return None
    try:
        payload = signing.loads(token, salt=_KNOWN_DEVICE_SALT, max_age=settings.LOGIN_KNOWN_DEVICE_AGE)
    except signing.BadSignature:
        return None
    user = get_user_model()._default_manager.filter(pk=payload.get("user")).first()
    if user is None or account_identity(user.get_username()) != account_identity(username):
        return None
    return token if constant_time_compare(payload.get("stamp", ""), _password_stamp(user)) else None


def remember_device(request: HttpRequest, user) -> None:
    """Give this browser a known-device cookie for `user` (KnownDeviceMiddleware writes it on the response)."""
    request.known_device_user = user


class KnownDeviceMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if (user := getattr(request, "known_device_user", None)) is not None:
            response.set_cookie(
                KNOWN_DEVICE_COOKIE,
                known_device_token(user),
                max_age=int(settings.LOGIN_KNOWN_DEVICE_AGE.total_seconds()),
                secure=settings.SESSION_COOKIE_SECURE,
                httponly=True,
                samesite="Lax",
            )
        return response


# --- Log-in failures ----------------------------------------------------------------------------------------


def _attempt_keys(request: HttpRequest | None, username: str, device: str | None) -> tuple[list[str], list[str]]:
    """(the keys every attempt counts in, the keys whose count may refuse it): a known device is refused only by
    its own count, and still counts against the account and the address."""
    shared = ([_account_key(username)] if username else []) + _address_keys(request)
    if device:
        own = [_key("device", device)]
        return shared + own, own
    return shared, shared


def login_attempt(request: HttpRequest | None, username: str, device: str | None = None) -> tuple[bool, list[str]]:
    """Count this attempt before the password is checked, so parallel guesses cannot all pass a check made before
    any of them was counted. Returns (refused, the keys counted): a successful log-in hands them to
    `login_succeeded`, which takes the attempt back."""
    counted, deciding = _attempt_keys(request, username, device)
    counts = {key: _count(key, settings.LOGIN_FAILURE_WINDOW) for key in counted}
    return any(counts[key] > settings.LOGIN_FAILURE_LIMIT for key in deciding), counted


def login_succeeded(keys: list[str]) -> None:
    for key in keys:
        with contextlib.suppress(ValueError):  # the window ended meanwhile: nothing to take back
            cache.decr(key)


def account_unlock(*, request: HttpRequest, user) -> None:
    """After a password reset: the account's failures are forgotten and this browser is known for it."""
    cache.delete(_account_key(user.get_username()))
    remember_device(request, user)


def password_reset_refused(request: HttpRequest | None, email: str) -> bool:
    """Count a reset request for `email` from this address; True when either is over its limit."""
    window = settings.PASSWORD_RESET_WINDOW
    over = _count(_key("reset-account", account_identity(email)), window) > settings.PASSWORD_RESET_ACCOUNT_LIMIT
    for key in _address_keys(request, "reset-ip"):
        over = _count(key, window) > settings.PASSWORD_RESET_ADDRESS_LIMIT or over
    return over


class _Throttled:
    """Refuse a throttled login before the password is checked; count each failure; remember the browser."""

    def clean(self):
        # The username field has folded it as authenticate() will see it; none when it was missing or too long,
        # and then no password is checked either.
        username = self.cleaned_data.get("username") or ""
        device = _known_device(self.request, username)
        refused, counted = login_attempt(self.request, username, device)
        if refused:
            minutes = int(settings.LOGIN_FAILURE_WINDOW.total_seconds() // 60)
            raise ValidationError(
                f"Too many failed log-in attempts. Try again in {minutes} minutes, or reset your password.",
                code="throttled",
            )
        cleaned = super().clean()  # a wrong password raises here, and this attempt stays counted
        login_succeeded(counted)
        if self.request is not None and self.get_user() is not None:
            remember_device(self.request, self.get_user())
        return cleaned


class ThrottledAuthenticationForm(_Throttled, AuthenticationForm):
    pass


class ThrottledAdminAuthenticationForm(_Throttled, AdminAuthenticationForm):
    pass


class ThrottledPasswordResetForm(PasswordResetForm):
    def save(self, *args, request=None, **kwargs):
        if password_reset_refused(request, self.cleaned_data["email"]):
            return  # no email; the view shows the same page as for a sent link or an unknown address
        super().save(*args, request=request, **kwargs)


class PasswordResetConfirmView(auth_views.PasswordResetConfirmView):
    def form_valid(self, form):
        response = super().form_valid(form)
        account_unlock(request=self.request, user=form.user)
        return response


class PasswordChangeView(auth_views.PasswordChangeView):
    def form_valid(self, form):
        response = super().form_valid(form)
        remember_device(self.request, form.user)  # the old cookie was for the old password
        return response
