"""Secrets at rest: server credentials, account passwords and webhook secrets are stored as MultiFernet tokens.

The keys come from the environment (`PORTAL_ENCRYPTION_KEYS`, comma-separated Fernet keys, newest first). The
first key encrypts; every key decrypts, so a key is rotated by putting a new one in front, running
`manage.py rotate_secrets` (re-encrypts every stored token with the new key) and then dropping the old one.
Development and tests without the variable derive one key from SECRET_KEY; production refuses to start without it.
"""

from __future__ import annotations

import base64
import hashlib
import json
from functools import cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings


class SecretUnreadable(Exception):
    """A stored token no configured key opens: the key it was written with was removed too early."""


def _derived_key(secret_key: str) -> bytes:
    return base64.urlsafe_b64encode(hashlib.sha256(f"portal-encryption:{secret_key}".encode()).digest())


@cache
def _box(keys: tuple[str, ...]) -> MultiFernet:
    return MultiFernet([Fernet(key.encode() if isinstance(key, str) else key) for key in keys])


def _keys() -> tuple[str, ...]:
    keys = tuple(key.strip() for key in getattr(settings, "PORTAL_ENCRYPTION_KEYS", []) if key.strip())
    return keys or (_derived_key(settings.SECRET_KEY).decode(),)


def encrypt(plain: str) -> str:
    """A token for this text; empty stays empty (nothing to hide, and a blank field reads as blank)."""
    if not plain:
        return ""
    return _box(_keys()).encrypt(plain.encode()).decode()


def decrypt(token: str) -> str:
    if not token:
        return ""
    try:
        return _box(_keys()).decrypt(token.encode()).decode()
    except InvalidToken:
        raise SecretUnreadable(
            "A stored secret cannot be decrypted with the keys in PORTAL_ENCRYPTION_KEYS: put back the key it was "
            "written with (behind the new one) and run manage.py rotate_secrets."
        ) from None


def rotate(token: str) -> str:
    """The same secret under the first key (MultiFernet.rotate); empty stays empty."""
    if not token:
        return ""
    try:
        return _box(_keys()).rotate(token.encode()).decode()
    except InvalidToken:
        raise SecretUnreadable("A stored secret cannot be decrypted with the keys in PORTAL_ENCRYPTION_KEYS.") from None


def encrypt_json(values: dict[str, str]) -> str:
    return encrypt(json.dumps(values, sort_keys=True)) if values else ""


def decrypt_json(token: str) -> dict[str, str]:
    plain = decrypt(token)
    return json.loads(plain) if plain else {}


def new_key() -> str:
    return Fernet.generate_key().decode()
