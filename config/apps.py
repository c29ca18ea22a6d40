import logging

from django.apps import AppConfig
from django.conf import settings

logger = logging.getLogger("portal.runtime")


class PortalConfig(AppConfig):
    """Wiring only: says at start-up how tasks will run, so nobody mistakes in-process tasks for a worker."""

    name = "config"
    label = "portal"
    verbose_name = "Portal runtime"

    def ready(self) -> None:
        if settings.CELERY_TASK_ALWAYS_EAGER and not settings.REDIS_URL:
            logger.warning(
                "No REDIS_URL set: Celery tasks run in-process (eager), there is no broker and no worker. "
                "Set REDIS_URL to use Redis and real Celery workers."
            )
        elif settings.CELERY_TASK_ALWAYS_EAGER:
            logger.warning("CELERY_TASK_ALWAYS_EAGER is on: tasks run in-process although REDIS_URL is set.")
        else:
            logger.info("Celery broker: %s (tasks run on Celery workers)", settings.CELERY_BROKER_URL_REDACTED)
        if settings.EMAIL_BACKEND == "django.core.mail.backends.filebased.EmailBackend":
            logger.warning(
                "No EMAIL_URL set: emails are not sent, they are written to %s (one .log file per batch, "
                "open it with any text editor). Set EMAIL_URL=smtp://user:pass@host:587 to send them.",
                settings.EMAIL_FILE_PATH,
            )
