"""The API's rate limit, per credential: PORTAL_API_RATE_LIMIT requests (default 600 a minute) in a sliding window
kept in the shared cache (Redis in production, so every web process counts together). Over it: a 429 with
Retry-After, in the one error shape (code "throttled")."""

from django.conf import settings
from rest_framework.throttling import SimpleRateThrottle


class CredentialRateThrottle(SimpleRateThrottle):
    scope = "credential"

    def get_rate(self) -> str | None:
        return settings.PORTAL_API_RATE_LIMIT or None  # read per request: a setting, not import time

    def get_cache_key(self, request, view) -> str | None:
        credential_id = getattr(request.auth, "pk", None)
        if credential_id is None:
            return None  # not authenticated: refused with a 401 before any count
        return f"api-throttle:{credential_id}"
