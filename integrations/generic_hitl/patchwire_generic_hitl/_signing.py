"""Request signatures, both ways: ``X-Patchwire-Signature: t=<unix>,v1=<hex HMAC-SHA256>``.

The scheme and its strict checks are core's (:mod:`patchwire.webhooks`); these are the
shorthands the client, the integration's routes and the desk use with one shared secret.
"""

from __future__ import annotations

from datetime import timedelta

from patchwire.webhooks import PATCHWIRE_SIGNATURE, Remember, SignatureError, WebhookVerifier

__all__ = ["HEADER", "TOLERANCE_SECONDS", "SignatureError", "sign", "verifier", "verify"]

HEADER = PATCHWIRE_SIGNATURE.header
TOLERANCE_SECONDS = 300


def verifier(secret: str, remember: Remember | None = None) -> WebhookVerifier:
    """The verifier of the protocol's requests: a five-minute window, replays refused when
    ``remember`` is given."""
    return WebhookVerifier(
        PATCHWIRE_SIGNATURE,
        secret,
        tolerance=timedelta(seconds=TOLERANCE_SECONDS),
        remember=remember,
    )


def sign(secret: str, body: bytes, *, timestamp: int | None = None) -> str:
    """The header value that signs ``body``."""
    return PATCHWIRE_SIGNATURE.sign(secret, body, timestamp=timestamp)


def verify(secret: str, header: str | None, body: bytes, *, now: float | None = None) -> None:
    """Raise :class:`SignatureError` unless ``header`` signs ``body`` within the window."""
    verifier(secret).check({HEADER: header} if header else {}, body, now=now)
