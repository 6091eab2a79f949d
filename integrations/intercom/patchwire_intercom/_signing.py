"""Intercom's webhook signature: ``X-Hub-Signature: sha1=<hex HMAC-SHA1 of the raw body>``.

The key is the app's client secret. The signature covers no timestamp, so it proves origin
only; replays are stopped by remembering notification and part ids (see ``_webhook``). The
checks are core's (:class:`patchwire.webhooks.WebhookVerifier`); this module reads the header
strictly for it: ``sha1=`` and exactly 40 lowercase hex digits, as Intercom writes it.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Mapping
from dataclasses import dataclass

from patchwire.webhooks import SignatureError, Signed, WebhookVerifier

__all__ = [
    "HEADER",
    "INTERCOM_SIGNATURE",
    "IntercomSignature",
    "SignatureError",
    "sign",
    "verifier",
    "verify",
]

HEADER = "X-Hub-Signature"
_VALUE = re.compile(r"sha1=([0-9a-f]{40})")


@dataclass(frozen=True)
class IntercomSignature:
    """Intercom's scheme for :class:`~patchwire.webhooks.WebhookVerifier` (no timestamp)."""

    header: str = HEADER

    def read(self, headers: Mapping[str, str], body: bytes) -> Signed:
        value = headers.get(HEADER)
        if not value:
            raise SignatureError(f"missing {HEADER} header")
        found = _VALUE.fullmatch(value)
        if found is None:
            raise SignatureError(f"malformed {HEADER} header: expected sha1=<40 lowercase hex>")
        return Signed(mac=bytes.fromhex(found[1]), message=body, timestamp=None, key=found[1])

    def mac(self, secret: bytes, message: bytes) -> bytes:
        return hmac.new(secret, message, hashlib.sha1).digest()


INTERCOM_SIGNATURE = IntercomSignature()


def sign(secret: str, body: bytes) -> str:
    """The header value Intercom sends with ``body``."""
    return "sha1=" + INTERCOM_SIGNATURE.mac(secret.encode(), body).hex()


def verifier(secret: str) -> WebhookVerifier:
    """Origin only: Intercom signs no time, so replays are the notification id's business."""
    return WebhookVerifier(
        INTERCOM_SIGNATURE,
        secret,
        tolerance=None,
        secret_name="the client secret (check clientSecret)",
    )


def verify(secret: str, header: str | None, body: bytes) -> None:
    """Raise :class:`SignatureError` unless ``header`` signs the raw ``body``."""
    verifier(secret).check({HEADER: header} if header else {}, body)
