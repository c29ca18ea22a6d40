"""Settings read the environment: SQLite and in-process tasks by default, PostgreSQL and Redis when given."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

BASE_DIR = Path(__file__).resolve().parent.parent
PROBE = (
    "import json, django; django.setup(); from django.conf import settings as s; "
    "print(json.dumps({'engine': s.DATABASES['default']['ENGINE'], 'name': str(s.DATABASES['default']['NAME']), "
    "'eager': s.CELERY_TASK_ALWAYS_EAGER, 'broker': s.CELERY_BROKER_URL, 'debug': s.DEBUG, "
    "'cache': s.CACHES['default']['BACKEND']}))"
)

# A Fernet key for the production settings under test (base64 of 32 bytes).
ENCRYPTION_KEY = "Zm9yLXRlc3RzLW9ubHktbm90LWEtcmVhbC1rZXktMzI="


def _run(args, **env_changes):
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("DATABASE_URL", "REDIS_URL", "DJANGO_SETTINGS_MODULE", "DJANGO_ALLOW_ASYNC_UNSAFE")
    }
    env.update({"DJANGO_SETTINGS_MODULE": "config.settings.base", **env_changes})
    return subprocess.run([sys.executable, *args], cwd=BASE_DIR, env=env, capture_output=True, text=True, timeout=60)


def test_embedded_defaults_are_sqlite_and_in_process_tasks_said_at_start_up():
    result = _run(["-c", PROBE])
    values = json.loads(result.stdout)
    assert values["engine"] == "django.db.backends.sqlite3"
    assert values["name"] == str(BASE_DIR / "db.sqlite3")
    assert values["eager"] is True
    assert "No REDIS_URL set: Celery tasks run in-process" in result.stderr


def test_database_url_and_redis_url_select_postgresql_and_a_real_broker():
    result = _run(
        ["-c", PROBE],
        DATABASE_URL="postgres://portal:secret@db.internal:5432/portal",
        REDIS_URL="redis://:hunter2@cache.internal:6379/0",
    )
    values = json.loads(result.stdout)
    assert values["engine"] == "django.db.backends.postgresql" and values["name"] == "portal"
    assert values["eager"] is False and values["broker"] == "redis://:hunter2@cache.internal:6379/0"
    assert "Celery broker: redis://:***@cache.internal:6379/0" in result.stderr
    assert "hunter2" not in result.stderr


def test_production_settings_pass_check_deploy_with_zero_warnings():
    result = _run(
        ["manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        DJANGO_SETTINGS_MODULE="config.settings.production",
        DJANGO_SECRET_KEY="k" * 20 + "-a-properly-long-and-random-production-secret-9f3b1c7e",
        DJANGO_ALLOWED_HOSTS="portal.example.com",
        REDIS_URL="redis://cache.internal:6379/0",
        EMAIL_URL="smtp+tls://portal:secret@mail.internal:587",
        DEFAULT_FROM_EMAIL="billing@example.com",
        PORTAL_ENCRYPTION_KEYS=ENCRYPTION_KEY,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues (0 silenced)." in result.stdout


@pytest.mark.parametrize(
    "missing",
    [
        "DJANGO_SECRET_KEY",
        "DJANGO_ALLOWED_HOSTS",
        "REDIS_URL",
        "EMAIL_URL",
        "DEFAULT_FROM_EMAIL",
        "PORTAL_ENCRYPTION_KEYS",
    ],
)
def test_production_refuses_to_start_without_its_secrets_or_a_shared_cache(missing):
    env = {
        "DJANGO_SETTINGS_MODULE": "config.settings.production",
        "DJANGO_SECRET_KEY": "x" * 60,
        "DJANGO_ALLOWED_HOSTS": "portal.example.com",
        "REDIS_URL": "redis://cache.internal:6379/0",
        "EMAIL_URL": "smtp://mail.internal:25",
        "DEFAULT_FROM_EMAIL": "billing@example.com",
        "PORTAL_ENCRYPTION_KEYS": ENCRYPTION_KEY,
    }
    env.pop(missing)
    result = _run(["manage.py", "check"], **env)
    assert result.returncode != 0
    assert missing in result.stderr


def test_production_without_redis_refuses_to_start_because_log_in_counts_would_be_per_process():
    production = {
        "DJANGO_SETTINGS_MODULE": "config.settings.production",
        "DJANGO_SECRET_KEY": "x" * 60,
        "DJANGO_ALLOWED_HOSTS": "portal.example.com",
        "EMAIL_URL": "smtp://mail.internal:25",
        "DEFAULT_FROM_EMAIL": "billing@example.com",
        "PORTAL_ENCRYPTION_KEYS": ENCRYPTION_KEY,
    }
    without = _run(["-c", PROBE], **production)
    assert without.returncode != 0
    assert "ImproperlyConfigured: REDIS_URL is not set" in without.stderr
    assert "every web process" in without.stderr

    with_redis = _run(["-c", PROBE], **production, REDIS_URL="redis://cache.internal:6379/0")
    assert with_redis.returncode == 0, with_redis.stderr
    values = json.loads(with_redis.stdout)
    assert values["cache"] == "django.core.cache.backends.redis.RedisCache"
    assert values["broker"] == "redis://cache.internal:6379/0"


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("smtp://portal:secret@mail.internal:25", {"port": 25, "tls": False, "ssl": False}),
        ("smtp+tls://portal:secret@mail.internal:587", {"port": 587, "tls": True, "ssl": False}),
        ("smtp+ssl://portal:secret@mail.internal:465", {"port": 465, "tls": False, "ssl": True}),
    ],
)
def test_production_sends_through_the_smtp_server_of_email_url(url, expected):
    probe = (
        "import json, django; django.setup(); from django.conf import settings as s; print(json.dumps({"
        "'backend': s.EMAIL_BACKEND, 'host': s.EMAIL_HOST, 'port': s.EMAIL_PORT, 'user': s.EMAIL_HOST_USER, "
        "'password': s.EMAIL_HOST_PASSWORD, 'tls': s.EMAIL_USE_TLS, 'ssl': s.EMAIL_USE_SSL, "
        "'sender': s.DEFAULT_FROM_EMAIL}))"
    )
    result = _run(
        ["-c", probe],
        DJANGO_SETTINGS_MODULE="config.settings.production",
        DJANGO_SECRET_KEY="x" * 60,
        DJANGO_ALLOWED_HOSTS="portal.example.com",
        REDIS_URL="redis://cache.internal:6379/0",
        EMAIL_URL=url,
        DEFAULT_FROM_EMAIL="Example Hosting <billing@example.com>",
        PORTAL_ENCRYPTION_KEYS=ENCRYPTION_KEY,
    )
    assert result.returncode == 0, result.stderr
    values = json.loads(result.stdout)
    assert values == {
        "backend": "django.core.mail.backends.smtp.EmailBackend",
        "host": "mail.internal",
        "user": "portal",
        "password": "secret",
        "sender": "Example Hosting <billing@example.com>",
        **expected,
    }


def test_without_email_url_the_emails_are_written_where_the_start_up_log_says():
    result = _run(["-c", PROBE])
    assert f"emails are not sent, they are written to {BASE_DIR / 'var' / 'mail'}" in result.stderr
