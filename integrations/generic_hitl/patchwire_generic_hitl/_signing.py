"""Request signatures, both ways: ``X-Patchwire-Signature: t=<unix>,v1=<hex HMAC-SHA256>``.

The signed text is ``"<t>.<raw body>"``; a receiver refuses a missing or wrong signature and a
timestamp more than five minutes away, comparing in constant time.
"""

from __future__ import annotations

import hashlib
import hmac
import time

__all__ = ["HEADER", "TOLERANCE_SECONDS", "SignatureError", "sign", "verify"]

HEADER = "X-Patchwire-Signature"
TOLERANCE_SECONDS = 300


class SignatureError(ValueError):
    """Why a request's signature was refused (safe to send back to the caller)."""


def _digest(secret: str, timestamp: int, body: bytes) -> str:
    return hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


def sign(secret: str, body: bytes, *, timestamp: int | None = None) -> str:
    """The header value that signs ``body``."""
    moment = int(time.time()) if timestamp is None else timestamp
    return f"t={moment},v1={_digest(secret, moment, body)}"


def verify(secret: str, header: str | None, body: bytes, *, now: float | None = None) -> None:
    """Raise :class:`SignatureError` unless ``header`` signs ``body`` within the window."""
    if not header:
        raise SignatureError(f"missing {HEADER} header")
    fields = dict(part.split("=", 1) for part in header.split(",") if "=" in part)
    try:
        timestamp = int(fields["t"])
        given = fields["v1"]
    except (KeyError, ValueError):
        raise SignatureError(
            f"malformed {HEADER} header: expected t=<unix seconds>,v1=<hex>"
        ) from None
    moment = time.time() if now is None else now
    if abs(moment - timestamp) > TOLERANCE_SECONDS:
        raise SignatureError(
            f"signature timestamp is {int(moment - timestamp)} s away from now "
            f"(at most {TOLERANCE_SECONDS} s allowed)"
        )
    if not hmac.compare_digest(given, _digest(secret, timestamp, body)):
        raise SignatureError("signature does not match the body and the shared secret")
