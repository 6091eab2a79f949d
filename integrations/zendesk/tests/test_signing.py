"""Zendesk's webhook signature: the documented test vector, freshness, and refusals."""

from __future__ import annotations

import pytest

from patchwire_zendesk import SignatureError, sign, timestamp_now, verify

VECTOR_SECRET = "dGhpc19zZWNyZXRfaXNfZm9yX3Rlc3Rpbmdfb25seQ=="
VECTOR_TIMESTAMP = "2021-03-25T05:09:27Z"
VECTOR_BODY = b'{"event":"ticket.updated","id":123}'
VECTOR_SIGNATURE = "S/RDdU2ERmj7LHDDoWJ2onPYH+t7/f2+LTM4dL7UiLM="


def test_the_known_vector_signs_and_verifies_with_the_secret_as_given() -> None:
    assert sign(VECTOR_SECRET, VECTOR_TIMESTAMP, VECTOR_BODY) == VECTOR_SIGNATURE
    verify(VECTOR_SECRET, VECTOR_SIGNATURE, VECTOR_TIMESTAMP, VECTOR_BODY, tolerance=None)
    moment = 1616648967.0  # the vector's own time
    verify(VECTOR_SECRET, VECTOR_SIGNATURE, VECTOR_TIMESTAMP, VECTOR_BODY, now=moment + 299)


def test_the_vector_is_stale_today() -> None:
    with pytest.raises(SignatureError, match="s away from now"):
        verify(VECTOR_SECRET, VECTOR_SIGNATURE, VECTOR_TIMESTAMP, VECTOR_BODY)


@pytest.mark.parametrize(
    ("signature", "timestamp", "body", "reason"),
    [
        (None, VECTOR_TIMESTAMP, VECTOR_BODY, "missing X-Zendesk-Webhook-Signature"),
        (VECTOR_SIGNATURE, None, VECTOR_BODY, "missing X-Zendesk-Webhook-Signature-Timestamp"),
        (VECTOR_SIGNATURE, "yesterday", VECTOR_BODY, "malformed"),
        (VECTOR_SIGNATURE, VECTOR_TIMESTAMP, VECTOR_BODY + b" ", "does not match"),
        ("x" + VECTOR_SIGNATURE[1:], VECTOR_TIMESTAMP, VECTOR_BODY, "does not match"),
    ],
)
def test_refusals_say_why(
    signature: str | None, timestamp: str | None, body: bytes, reason: str
) -> None:
    with pytest.raises(SignatureError, match=reason):
        verify(VECTOR_SECRET, signature, timestamp, body, now=1616648967.0)


def test_a_decoded_secret_does_not_verify() -> None:
    decoded = "this_secret_is_for_testing_only"
    assert sign(decoded, VECTOR_TIMESTAMP, VECTOR_BODY) != VECTOR_SIGNATURE


def test_timestamps_are_written_as_zendesk_writes_them() -> None:
    assert timestamp_now(1616648967.0) == VECTOR_TIMESTAMP
