"""Settings for every environment, read from the environment with safe local defaults.

No DATABASE_URL: a SQLite file next to manage.py. No REDIS_URL: Celery tasks run in-process.
"""

from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import environ

BASE_DIR = Path(__file__).resolve().parent.parent.parent

env = environ.Env()

DEBUG = env.bool("DJANGO_DEBUG", default=True)
SECRET_KEY = env("DJANGO_SECRET_KEY", default="local-development-only-not-a-secret")
ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "[::1]", "testserver"])
CSRF_TRUSTED_ORIGINS = env.list("DJANGO_CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "django_fsm",
    "django_celery_beat",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "config.apps.PortalConfig",
    "core",
    "notifications",
    "automation",
    "billing",
    "provisioning",
    "orders",
    "fraud",
    "api",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "config.security_headers.SecurityHeadersMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "core.auth.KnownDeviceMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}")}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # IMMEDIATE takes the write lock at BEGIN, so two writers queue up instead of both reading stale rows
    # (SQLite has no SELECT ... FOR UPDATE).
    DATABASES["default"].setdefault("OPTIONS", {}).update({"transaction_mode": "IMMEDIATE", "timeout": 20})
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
# Failed log-ins allowed per account and per IP address within the window (core/auth.py).
LOGIN_FAILURE_LIMIT = env.int("LOGIN_FAILURE_LIMIT", default=10)
LOGIN_FAILURE_WINDOW = timedelta(minutes=env.int("LOGIN_FAILURE_WINDOW_MINUTES", default=15))
# A browser that logged in to an account (or reset its password) is known for it this long: the account's and
# the address's failure counts do not refuse it, it gets LOGIN_FAILURE_LIMIT failures of its own.
LOGIN_KNOWN_DEVICE_AGE = timedelta(days=env.int("LOGIN_KNOWN_DEVICE_DAYS", default=90))
# Password reset links sent per account and per IP address within the window; more requests send nothing.
PASSWORD_RESET_ACCOUNT_LIMIT = env.int("PASSWORD_RESET_ACCOUNT_LIMIT", default=3)
PASSWORD_RESET_ADDRESS_LIMIT = env.int("PASSWORD_RESET_ADDRESS_LIMIT", default=10)
PASSWORD_RESET_WINDOW = timedelta(minutes=env.int("PASSWORD_RESET_WINDOW_MINUTES", default=60))
# Proxies of our own in front of the portal (a TLS proxy: 1). Log-in throttling and the fraud check then read
# the client's address from X-Forwarded-For instead of the proxy's (core.requests.client_address).
PORTAL_TRUSTED_PROXY_HOPS = env.int("PORTAL_TRUSTED_PROXY_HOPS", default=0)
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "clientarea:dashboard"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = env("TIME_ZONE", default="UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]  # the client area's and the admin's stylesheets (no inline styles: CSP)
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}

# --- Celery -----------------------------------------------------------------------------------------------
REDIS_URL = env("REDIS_URL", default="")
CELERY_BROKER_URL = REDIS_URL or "memory://"
CELERY_RESULT_BACKEND = REDIS_URL or None
# Without a broker, tasks run in the calling process; config.apps says so loudly at start-up.
CELERY_TASK_ALWAYS_EAGER = not REDIS_URL
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_DEFAULT_QUEUE = "default"
# Outbound webhooks wait on receivers: their own queue, so a slow receiver never holds up anything else.
WEBHOOKS_QUEUE = env("WEBHOOKS_QUEUE", default="webhooks")
# Module calls wait on the provider's servers: their own queue, sized on its own (named here so a test's or a
# bench's worker can have one of its own, as for webhooks).
PROVISIONING_QUEUE = env("PROVISIONING_QUEUE", default="provisioning")
# The automation run has its own queue, so a long run never holds up event dispatch, and the other way round.
# automation.run is the daily run; notifications.automation_run is its name before the run had an app of its own,
# kept for a message queued before the upgrade (automation.tasks).
CELERY_TASK_ROUTES = {
    "automation.run": {"queue": "automation"},
    "notifications.automation_run": {"queue": "automation"},
    "notifications.webhooks_deliver": {"queue": WEBHOOKS_QUEUE},
    "notifications.webhooks_deliver_range": {"queue": WEBHOOKS_QUEUE},
    "notifications.webhooks_sweep": {"queue": WEBHOOKS_QUEUE},
    # Emails have their own queue, so a slow mail server holds up neither dispatch nor the run.
    "notifications.send_emails": {"queue": "email"},
    "notifications.email_sweep": {"queue": "email"},
    "provisioning.module_call_run": {"queue": PROVISIONING_QUEUE},
    "provisioning.module_calls_run": {"queue": PROVISIONING_QUEUE},  # the batches of many calls (the run's)
    "provisioning.module_calls_sweep": {"queue": PROVISIONING_QUEUE},
    "provisioning.registrar_poll_run": {"queue": PROVISIONING_QUEUE},  # a registrar account's message queue
}
# Beat (django-celery-beat copies these into its table at start): webhook retries that are due, and deliveries
# whose task was lost (Redis down at commit), are handed out every minute. The automation run does it too.
CELERY_BEAT_SCHEDULE = {
    "Webhooks: deliveries due": {"task": "notifications.webhooks_sweep", "schedule": 60.0},
    "Module calls: retries due": {"task": "provisioning.module_calls_sweep", "schedule": 60.0},
}
# How many batches of an automation step run at once, each in a thread with its own database connection
# (PostgreSQL only; see automation.pool.automation_workers). 2 suits the small two-core host.
AUTOMATION_WORKERS = env.int("AUTOMATION_WORKERS", default=2)
CELERY_TIMEZONE = TIME_ZONE
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"


def _redact(url: str) -> str:
    parts = urlsplit(url)
    if parts.password:
        netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
        return urlunsplit(parts._replace(netloc=netloc))
    return url


CELERY_BROKER_URL_REDACTED = _redact(CELERY_BROKER_URL)

# The cache holds log-in failure and password reset counts: shared through Redis when there is one, per process
# otherwise.
CACHES = {
    "default": (
        {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL, "KEY_PREFIX": "portal"}
        if REDIS_URL
        else {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}
    )
}
# --- Email ------------------------------------------------------------------------------------------------
# EMAIL_URL (smtp://user:pass@host:587, smtp+tls://..., smtp+ssl://...) configures SMTP; without it the emails are
# written as files to EMAIL_FILE_PATH (var/mail/), where `make run` says to read them.
EMAIL_FILE_PATH = env("EMAIL_FILE_PATH", default=str(BASE_DIR / "var" / "mail"))
if env("EMAIL_URL", default=""):
    vars().update(env.email_url("EMAIL_URL"))
else:
    EMAIL_BACKEND = env("EMAIL_BACKEND", default="django.core.mail.backends.filebased.EmailBackend")
EMAIL_TIMEOUT = env.int("EMAIL_TIMEOUT", default=30)
DEFAULT_FROM_EMAIL = env("DEFAULT_FROM_EMAIL", default="billing@example.com")
# The part of each Message-ID after the @ (default: this host's name).
EMAIL_MESSAGE_ID_DOMAIN = env("EMAIL_MESSAGE_ID_DOMAIN", default=None)
# A mail server that fails for now (4xx, no connection) is tried again after about 60 s, 120 s, 240 s, ... (with
# jitter), this many attempts in all; then the email waits as failed in the admin.
EMAIL_MAX_ATTEMPTS = env.int("EMAIL_MAX_ATTEMPTS", default=6)
EMAIL_RETRY_BASE_SECONDS = env.int("EMAIL_RETRY_BASE_SECONDS", default=60)
# Queued emails are sent by a task after commit; off, they wait for the sweep (the unit tests turn it off).
EMAIL_SEND_AFTER_COMMIT = env.bool("EMAIL_SEND_AFTER_COMMIT", default=True)
# The automation run's last step sends what is left queued (installs without beat); the unit tests turn it off.
EMAIL_SWEEP_IN_RUN = env.bool("EMAIL_SWEEP_IN_RUN", default=True)

# --- Outbound webhooks (notifications/webhooks/, docs/WEBHOOKS.md) -----------------------------------------------
# Loopback, private and link-local destinations: allowed for development and tests, refused in production.
WEBHOOKS_ALLOW_PRIVATE_DESTINATIONS = env.bool("WEBHOOKS_ALLOW_PRIVATE_DESTINATIONS", default=DEBUG)
WEBHOOKS_CONNECT_TIMEOUT = env.float("WEBHOOKS_CONNECT_TIMEOUT", default=5.0)  # seconds
WEBHOOKS_READ_TIMEOUT = env.float("WEBHOOKS_READ_TIMEOUT", default=10.0)  # seconds between two reads
WEBHOOKS_DEADLINE = env.float("WEBHOOKS_DEADLINE", default=15.0)  # seconds for the whole answer
WEBHOOKS_MAX_RESPONSE_BYTES = env.int("WEBHOOKS_MAX_RESPONSE_BYTES", default=64 * 1024)  # a bigger answer is cut off
# An endpoint whose deliveries all failed for this long is disabled, and the admins are told (mail_admins to ADMINS,
# from DJANGO_ADMINS=ops@example.com,...; nobody is mailed when it is empty).
ADMINS = [("Admin", address) for address in env.list("DJANGO_ADMINS", default=[])]
WEBHOOKS_DISABLE_AFTER_DAYS = env.float("WEBHOOKS_DISABLE_AFTER_DAYS", default=5.0)
# The sweep (every minute) hands out a delivery only once it has been due this long (its task was lost, or waits in
# a queue the workers are behind on), except a retry that got no task of its own, handed out as soon as it is due.
WEBHOOKS_SWEEP_AFTER = timedelta(minutes=env.int("WEBHOOKS_SWEEP_AFTER_MINUTES", default=2))

# --- Portal -------------------------------------------------------------------------------------------------
PORTAL_COMPANY_NAME = env("PORTAL_COMPANY_NAME", default="Example Hosting")
# Days a new order's invoice gives the client to pay.
PORTAL_ORDER_INVOICE_DUE_DAYS = env.int("PORTAL_ORDER_INVOICE_DUE_DAYS", default=0)
# The pretend card gateway for demos and browser tests; always offered when DEBUG is on.
PORTAL_SANDBOX_GATEWAY = env.bool("PORTAL_SANDBOX_GATEWAY", default=False)
# Shown on invoices and their PDFs.
PORTAL_COMPANY_ADDRESS = env("PORTAL_COMPANY_ADDRESS", default="1 Example Street\n10115 Berlin\nGermany")
PORTAL_COMPANY_TAX_ID = env("PORTAL_COMPANY_TAX_ID", default="")
PORTAL_COMPANY_EMAIL = env("PORTAL_COMPANY_EMAIL", default="billing@example.com")
# A PNG or JPEG file; empty: the company name is printed instead.
PORTAL_COMPANY_LOGO = env("PORTAL_COMPANY_LOGO", default="")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env("LOG_LEVEL", default="INFO")},
    # In-process tasks would log every event dispatch; workers keep their own task log.
    "loggers": {
        "celery.app.trace": {"level": "WARNING" if CELERY_TASK_ALWAYS_EAGER else "INFO"},
        # WeasyPrint logs every step of every PDF at INFO.
        "weasyprint": {"level": "WARNING"},
        "fontTools": {"level": "WARNING"},
    },
}

# --- The event bus (notifications) ----------------------------------------------------------------------------
# Events still undispatched this long after they were written are dispatched by the sweep (Celery beat every
# minute, and a step of the automation run): their dispatch task was lost (the broker was down, a worker died).
PORTAL_BUS_SWEEP_AFTER = timedelta(minutes=env.int("PORTAL_BUS_SWEEP_AFTER_MINUTES", default=5))
# A failing handler is run at most this many times in all (its first attempt included), the waits between them
# doubling from the base up to the cap (with jitter); then it gave up and waits in the admin (Handler runs).
PORTAL_HANDLER_RETRY_LIMIT = env.int("PORTAL_HANDLER_RETRY_LIMIT", default=5)
PORTAL_HANDLER_RETRY_BASE_SECONDS = env.int("PORTAL_HANDLER_RETRY_BASE_SECONDS", default=60)
PORTAL_HANDLER_RETRY_MAX_SECONDS = env.int("PORTAL_HANDLER_RETRY_MAX_SECONDS", default=3600)
# Dotted module names imported when notifications starts: their @register / @pre_hook calls add a provider's own
# hooks without forking (e.g. PORTAL_HOOK_PACKAGES=acme_hooks,acme_hooks.fraud).
PORTAL_HOOK_PACKAGES = env.list("PORTAL_HOOK_PACKAGES", default=[])

# --- Provisioning modules (docs/MODULES.md) ------------------------------------------------------------------
# Fernet keys (comma-separated, newest first) that encrypt server credentials, account passwords and webhook
# secrets at rest: the first encrypts, all decrypt (rotate with manage.py rotate_secrets). Without it, development
# and tests derive one key from SECRET_KEY; production refuses to start without it.
PORTAL_ENCRYPTION_KEYS = env.list("PORTAL_ENCRYPTION_KEYS", default=[])
# Dotted names of packages whose import registers third-party modules (provisioning.modules.registry.register).
PORTAL_MODULE_PACKAGES = env.list("PORTAL_MODULE_PACKAGES", default=[])
# Packages of third-party registrars (each registers its Registrar classes when imported: docs/REGISTRARS.md).
PORTAL_REGISTRAR_PACKAGES = env.list("PORTAL_REGISTRAR_PACKAGES", default=[])
# A module call that failed with a transient error is tried at most this many times in all, the waits doubling
# from the base up to the cap (with jitter); then it waits in the admin's module queue.
PORTAL_MODULE_RETRY_LIMIT = env.int("PORTAL_MODULE_RETRY_LIMIT", default=5)
PORTAL_MODULE_RETRY_BASE_SECONDS = env.int("PORTAL_MODULE_RETRY_BASE_SECONDS", default=30)
PORTAL_MODULE_RETRY_MAX_SECONDS = env.int("PORTAL_MODULE_RETRY_MAX_SECONDS", default=3600)
# Seconds a module may take over one call before the portal gives up waiting (a transient error).
PORTAL_MODULE_TIMEOUT_SECONDS = env.int("PORTAL_MODULE_TIMEOUT_SECONDS", default=30)
# The most messages one poll reads from a registrar account's message queue (EPP poll); the rest wait for the
# next run's poll.
PORTAL_REGISTRAR_POLL_LIMIT = env.int("PORTAL_REGISTRAR_POLL_LIMIT", default=500)
# Seconds checkout waits for a registrar's availability check before it tells the client to try again.
PORTAL_DOMAIN_CHECK_TIMEOUT_SECONDS = env.int("PORTAL_DOMAIN_CHECK_TIMEOUT_SECONDS", default=5)

# --- Fraud checks (docs/FRAUD.md) ----------------------------------------------------------------------------
# MaxMind-format databases (GeoLite2/GeoIP2, or built with `manage.py build_geoip_db`); the project ships none.
# Empty or missing: the GeoIP rules are skipped with a warning. One file may serve as all three.
FRAUD_GEOIP_CITY_DB = env("FRAUD_GEOIP_CITY_DB", default="")  # City or Country database
FRAUD_GEOIP_ASN_DB = env("FRAUD_GEOIP_ASN_DB", default="")
FRAUD_GEOIP_ANONYMOUS_DB = env("FRAUD_GEOIP_ANONYMOUS_DB", default="")

# The REST API (api/, docs/API.md): API credentials over HTTP Basic, one error shape, cursor pages.
# Requests per credential: "N/second", "N/minute", "N/hour" or "N/day"; empty: no limit.
PORTAL_API_RATE_LIMIT = env("PORTAL_API_RATE_LIMIT", default="600/minute")
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["api.auth.CredentialAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["api.auth.AreaGranted"],
    "DEFAULT_THROTTLE_CLASSES": ["api.throttling.CredentialRateThrottle"],
    "DEFAULT_PAGINATION_CLASS": "api.pagination.IdCursorPagination",
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "api.errors.api_exception_handler",
    "UNAUTHENTICATED_USER": None,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Portal API",
    "DESCRIPTION": "The portal over REST; this version reads what it lists below. Authenticate with HTTP Basic: "
    "an API credential's identifier as the user name, its secret as the password (manage.py create_api_credential).",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],
    "SERVE_AUTHENTICATION": [],
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "api.schema.add_error_responses",
    ],
}
