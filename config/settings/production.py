"""Production: everything secret or host-specific must come from the environment; no defaults for them."""

from django.core.exceptions import ImproperlyConfigured

from .base import *  # noqa: F403
from .base import REDIS_URL, STORAGES, env

DEBUG = False
SECRET_KEY = env("DJANGO_SECRET_KEY")
ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS")
if not REDIS_URL:
    # Without Redis each gunicorn worker would keep its own log-in failure counts (and run tasks in-process).
    raise ImproperlyConfigured(
        "REDIS_URL is not set: production needs Redis as its shared cache, so every web process sees the same "
        "counts of failed log-ins and password reset requests, and as the Celery broker. Set REDIS_URL=redis://host:6379/0."
    )

if not env.list("PORTAL_ENCRYPTION_KEYS", default=[]):
    raise ImproperlyConfigured(
        "PORTAL_ENCRYPTION_KEYS is not set: production encrypts server credentials and account passwords with "
        "keys of its own. Generate one with: python -c 'from cryptography.fernet import Fernet; "
        "print(Fernet.generate_key().decode())' and set PORTAL_ENCRYPTION_KEYS=<key>."
    )

# The portal runs behind a TLS-terminating proxy that sets X-Forwarded-Proto.
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env.bool("DJANGO_SECURE_SSL_REDIRECT", default=True)
SECURE_HSTS_SECONDS = env.int("DJANGO_SECURE_HSTS_SECONDS", default=31_536_000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = True
SECURE_HSTS_PRELOAD = True
SESSION_COOKIE_SECURE = True
CSRF_COOKIE_SECURE = True
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"

STORAGES = {
    **STORAGES,
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}
# Webhooks never go to loopback, private or link-local addresses in production (no SSRF).
WEBHOOKS_ALLOW_PRIVATE_DESTINATIONS = env.bool("WEBHOOKS_ALLOW_PRIVATE_DESTINATIONS", default=False)
# Production sends through SMTP: EMAIL_URL (smtp://user:pass@host:port, smtp+tls://, smtp+ssl://) and
# DEFAULT_FROM_EMAIL are required, so no email waits for a server nobody configured.
for _name in ("EMAIL_URL", "DEFAULT_FROM_EMAIL"):
    if not env(_name, default=""):
        raise ImproperlyConfigured(
            f"{_name} is not set: production sends its emails through SMTP. Set EMAIL_URL=smtp://user:pass@host:587 "
            "(smtp+tls:// for STARTTLS, smtp+ssl:// for TLS) and DEFAULT_FROM_EMAIL=billing@your-domain."
        )
vars().update(env.email_url("EMAIL_URL"))
DEFAULT_FROM_EMAIL = env("DEFAULT_FROM_EMAIL")
