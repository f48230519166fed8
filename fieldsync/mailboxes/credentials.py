"""Encryption at rest of mailbox and service-account passwords (Fernet, keys from settings).

SYNCADMIN_CREDENTIALS_KEY may list several keys, newest first: old ciphertexts still decrypt
and `rotate()` re-encrypts them with the newest.
"""

from __future__ import annotations

from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings


class CredentialsUnreadable(Exception):
    """A stored password cannot be decrypted with the configured keys."""


@lru_cache(maxsize=4)
def _fernet(keys: tuple[str, ...]) -> MultiFernet:
    try:
        return MultiFernet([Fernet(k.encode()) for k in keys])
    except ValueError as exc:
        raise ValueError(
            "SYNCADMIN_CREDENTIALS_KEY must hold Fernet keys (32 url-safe base64 bytes; make one "
            "with: python -c 'from cryptography.fernet import Fernet; "
            "print(Fernet.generate_key().decode())')"
        ) from exc


def _current() -> MultiFernet:
    return _fernet(tuple(settings.SYNCADMIN_CREDENTIALS_KEYS))


def encrypt(secret: str) -> str:
    """The ciphertext to store; an empty secret stays empty (no password set)."""
    if not secret:
        return ""
    return _current().encrypt(secret.encode("utf-8")).decode("ascii")


def decrypt(token: str) -> str:
    if not token:
        return ""
    try:
        return _current().decrypt(token.encode("ascii")).decode("utf-8")
    except InvalidToken:
        raise CredentialsUnreadable(
            "The stored password cannot be decrypted with SYNCADMIN_CREDENTIALS_KEY (was the key "
            "changed without keeping the old one?). Enter the password again."
        ) from None


def rotate(token: str) -> str:
    """The same secret encrypted with the newest key."""
    return _current().rotate(token.encode("ascii")).decode("ascii") if token else ""
