"""Zendesk webhook signatures: base64 HMAC-SHA256 of the timestamp header then the raw body.

The signing secret is used as given (its UTF-8 bytes), never base64-decoded. Zendesk
prescribes no replay window, so a receiver also bounds the timestamp's distance from now.
The checks themselves are core's (:class:`patchwire.webhooks.WebhookVerifier`); this module
reads Zendesk's two headers strictly for it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from patchwire.webhooks import SignatureError, Signed, WebhookVerifier

__all__ = [
    "SIGNATURE_HEADER",
    "TIMESTAMP_HEADER",
    "ZENDESK_SIGNATURE",
    "SignatureError",
    "ZendeskSignature",
    "sign",
    "timestamp_now",
    "verify",
]

SIGNATURE_HEADER = "X-Zendesk-Webhook-Signature"
TIMESTAMP_HEADER = "X-Zendesk-Webhook-Signature-Timestamp"

_BASE64_SHA256 = re.compile(r"[A-Za-z0-9+/]{43}=")
_TIMESTAMP = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z")


@dataclass(frozen=True)
class ZendeskSignature:
    """Zendesk's scheme for :class:`~patchwire.webhooks.WebhookVerifier`: the signature is
    exactly 44 characters of base64, the timestamp exactly ``YYYY-MM-DDTHH:MM:SSZ``."""

    header: str = SIGNATURE_HEADER

    def read(self, headers: Mapping[str, str], body: bytes) -> Signed:
        signature = headers.get(SIGNATURE_HEADER)
        timestamp = headers.get(TIMESTAMP_HEADER)
        if not signature:
            raise SignatureError(f"missing {SIGNATURE_HEADER} header")
        if not timestamp:
            raise SignatureError(f"missing {TIMESTAMP_HEADER} header")
        if not _BASE64_SHA256.fullmatch(signature):
            raise SignatureError(
                f"malformed {SIGNATURE_HEADER}: expected the 44-character base64 HMAC-SHA256"
            )
        if not _TIMESTAMP.fullmatch(timestamp):
            raise SignatureError(
                f"malformed {TIMESTAMP_HEADER}: {timestamp[:40]!r} "
                "(expected ISO-8601 UTC such as 2021-03-25T05:09:27Z)"
            )
        try:
            moment = datetime.strptime(timestamp, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
        except ValueError:
            raise SignatureError(
                f"malformed {TIMESTAMP_HEADER}: {timestamp!r} is no date"
            ) from None
        mac = base64.b64decode(signature)
        if base64.b64encode(mac).decode() != signature:  # unused bits set: another spelling
            raise SignatureError(f"malformed {SIGNATURE_HEADER}: not canonical base64")
        return Signed(
            mac=mac,
            message=timestamp.encode() + body,
            timestamp=moment.timestamp(),
            key=f"{timestamp}:{mac.hex()}",
        )

    def mac(self, secret: bytes, message: bytes) -> bytes:
        return hmac.new(secret, message, hashlib.sha256).digest()


ZENDESK_SIGNATURE = ZendeskSignature()


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """The signature Zendesk sends for ``body`` delivered at ``timestamp``."""
    digest = ZENDESK_SIGNATURE.mac(secret.encode(), timestamp.encode() + body)
    return base64.b64encode(digest).decode()


def timestamp_now(now: float | None = None) -> str:
    """A timestamp header value (ISO-8601 UTC, seconds), as Zendesk writes it."""
    moment = datetime.fromtimestamp(time.time() if now is None else now, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


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
    headers = {
        name: value
        for name, value in ((SIGNATURE_HEADER, signature), (TIMESTAMP_HEADER, timestamp))
        if value
    }
    window = timedelta(seconds=tolerance) if tolerance is not None else None
    checker = WebhookVerifier(ZENDESK_SIGNATURE, secret, tolerance=window)
    checker.check(headers, body, now=now)
