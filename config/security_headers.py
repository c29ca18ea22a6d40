"""Content-Security-Policy on every response, and Cache-Control: private, no-store on everything a logged-in user
or a PDF gets (Django 5.2 has no CSP middleware of its own).

The client area runs no JavaScript and keeps its styles in static files, so its policy allows nothing inline.
The admin has its own policy: Django's admin loads its scripts and styles from static files too, so it differs
only in sending forms nowhere but here. The client area may also send a form to where a payment gateway takes
the client: Chromium checks form-action on the redirect that follows a POST, and paying with Stripe Checkout is
a POST to us answered by a redirect to Stripe's page. Each gateway names those origins (`redirect_origins`).
django-celery-beat's periodic task form has an inline script; our copy of its template
(templates/admin/djcelery/) loads the same script from a static file instead, so no page needs 'unsafe-inline'.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.urls import NoReverseMatch, reverse

from billing.gateways import GATEWAY_CLASSES

CACHE_CONTROL_PRIVATE = "private, no-store"


def policy_string(directives: dict[str, Iterable[str]]) -> str:
    return "; ".join(f"{name} {' '.join(sources)}" for name, sources in directives.items())


def _policy(*, form_action: Iterable[str]) -> str:
    return policy_string(
        {
            "default-src": ["'self'"],
            "script-src": ["'self'"],
            "style-src": ["'self'"],
            "img-src": ["'self'", "data:"],
            "object-src": ["'none'"],
            "base-uri": ["'none'"],
            "form-action": ["'self'", *form_action],
            "frame-ancestors": ["'none'"],
        }
    )


def payment_redirect_origins() -> list[str]:
    return sorted({origin for gateway in GATEWAY_CLASSES.values() for origin in gateway.redirect_origins})


CLIENT_POLICY = _policy(form_action=payment_redirect_origins())
ADMIN_POLICY = _policy(form_action=[])


class SecurityHeadersMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        # Django's debug pages (DEBUG on, an error status) style themselves inline; they are for the developer.
        if not (settings.DEBUG and response.status_code >= 400):
            response.setdefault("Content-Security-Policy", ADMIN_POLICY if _is_admin(request) else CLIENT_POLICY)
        user = getattr(request, "user", None)  # absent on static files, which WhiteNoise answers first
        is_pdf = response.get("Content-Type", "").split(";")[0].strip() == "application/pdf"
        if (user is not None and user.is_authenticated) or is_pdf:
            response["Cache-Control"] = CACHE_CONTROL_PRIVATE
        return response


def _is_admin(request: HttpRequest) -> bool:
    try:
        return request.path.startswith(reverse("admin:index"))
    except NoReverseMatch:
        return False
