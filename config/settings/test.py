"""Test settings: the same as base, with a fast password hasher.

Tasks run in-process unless a test starts a real worker (tests/integration/test_celery_worker.py switches
the app to the broker for its own duration), so unit tests never wait on a queue nobody consumes.
"""

from .base import *  # noqa: F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
CELERY_TASK_ALWAYS_EAGER = True
PORTAL_SANDBOX_GATEWAY = True  # the browser tests pay with it
# Each test starts with an empty cache (tests/conftest.py clears it), whether or not REDIS_URL is set.
CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
# The tests' receivers listen on loopback; the refusal tests switch this off.
WEBHOOKS_ALLOW_PRIVATE_DESTINATIONS = True
WEBHOOKS_CONNECT_TIMEOUT = 2.0
WEBHOOKS_READ_TIMEOUT = 1.0
WEBHOOKS_DEADLINE = 3.0
# Unit tests only queue emails (rendering invoice PDFs for every invoice would slow them); the email tests turn
# sending on and send through a real SMTP server (tests/emails/test_sending.py).
EMAIL_SEND_AFTER_COMMIT = False
EMAIL_SWEEP_IN_RUN = False  # else every full run in a test would send (and render the PDFs of) all its emails
# A third-party module package, loaded as a provider's would be (tests/module_package): the queue's tests drive it.
PORTAL_MODULE_PACKAGES = ["tests.module_package"]
PORTAL_REGISTRAR_PACKAGES = ["tests.registrar_package"]
