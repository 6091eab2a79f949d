"""Zendesk webhook signatures: base64 HMAC-SHA256 of the timestamp header then the raw body.

The signing secret is used as given (its UTF-8 bytes), never base64-decoded. Zendesk
prescribes no replay window, so a receiver also bounds the timestamp's distance from now.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from datetime import UTC, datetime

__all__ = [
    "SIGNATURE_HEADER",
    "TIMESTAMP_HEADER",
    "SignatureError",
    "sign",
    "timestamp_now",
    "verify",
]

SIGNATURE_HEADER = "X-Zendesk-Webhook-Signature"
TIMESTAMP_HEADER = "X-Zendesk-Webhook-Signature-Timestamp"


class SignatureError(ValueError):
    """Why a webhook's signature was refused (safe to send back to the caller)."""


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """The signature Zendesk sends for ``body`` delivered at ``timestamp``."""
    digest = hmac.new(secret.encode(), timestamp.encode() + body, hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def timestamp_now(now: float | None = None) -> str:
    """A timestamp header value (ISO-8601 UTC, seconds), as Zendesk writes it."""
    moment = datetime.fromtimestamp(time.time() if now is None else now, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _parse(timestamp: str) -> float:
    try:
        moment = datetime.fromisoformat(timestamp.replace("Z", "+00:00"))
    except ValueError:
        raise SignatureError(
            f"malformed {TIMESTAMP_HEADER}: {timestamp[:40]!r} (expected ISO-8601 UTC)"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def verify(
    secret: str,
    signature: str | None,
    timestamp: str | None,
    body: bytes,
    *,
    tolerance: float | None = 300,
    now: float | None = None,
) -> None:
    """Raise :class:`SignatureError` unless the headers sign ``body`` (within ``tolerance`` s).

    ``tolerance=None`` skips the freshness check (for checking a recorded test vector).
    """
    if not signature:
        raise SignatureError(f"missing {SIGNATURE_HEADER} header")
    if not timestamp:
        raise SignatureError(f"missing {TIMESTAMP_HEADER} header")
    if tolerance is not None:
        distance = (time.time() if now is None else now) - _parse(timestamp)
        if abs(distance) > tolerance:
            raise SignatureError(
                f"signature timestamp is {int(distance)} s away from now "
                f"(at most {int(tolerance)} s allowed)"
            )
    if not hmac.compare_digest(signature.encode(), sign(secret, timestamp, body).encode()):
        raise SignatureError("signature does not match the body and the webhook's signing secret")
