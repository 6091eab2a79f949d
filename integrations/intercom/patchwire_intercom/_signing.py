"""Intercom's webhook signature: ``X-Hub-Signature: sha1=<hex HMAC-SHA1 of the raw body>``.

The key is the app's client secret. The signature covers no timestamp, so it proves origin
only; replays are stopped by remembering notification and part ids (see ``_webhook``).
"""

from __future__ import annotations

import hashlib
import hmac

__all__ = ["HEADER", "SignatureError", "sign", "verify"]

HEADER = "X-Hub-Signature"
_PREFIX = "sha1="


class SignatureError(ValueError):
    """Why a notification's signature was refused (safe to send back to the caller)."""


def sign(secret: str, body: bytes) -> str:
    """The header value Intercom sends with ``body``."""
    return _PREFIX + hmac.new(secret.encode(), body, hashlib.sha1).hexdigest()


def verify(secret: str, header: str | None, body: bytes) -> None:
    """Raise :class:`SignatureError` unless ``header`` signs the raw ``body``."""
    if not header:
        raise SignatureError(f"missing {HEADER} header")
    if not header.startswith(_PREFIX):
        raise SignatureError(f"malformed {HEADER} header: expected sha1=<hex>")
    if not hmac.compare_digest(header.strip().lower(), sign(secret, body)):
        raise SignatureError(
            f"{HEADER} does not match the body and the client secret (check clientSecret)"
        )
