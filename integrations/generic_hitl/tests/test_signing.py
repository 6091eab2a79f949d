from __future__ import annotations

import pytest

from patchwire_generic_hitl import SignatureError, sign, verify

BODY = b'{"remoteConversationId":"rc-1"}'


def test_a_signature_verifies_only_its_body_and_secret() -> None:
    header = sign("secret-secret-secret", BODY, timestamp=1_000)
    verify("secret-secret-secret", header, BODY, now=1_100)
    with pytest.raises(SignatureError, match="does not match"):
        verify("secret-secret-secret", header, BODY + b" ", now=1_100)
    with pytest.raises(SignatureError, match="does not match"):
        verify("another-secret-entirely", header, BODY, now=1_100)


def test_stale_missing_and_malformed_signatures_are_refused() -> None:
    header = sign("secret-secret-secret", BODY, timestamp=1_000)
    with pytest.raises(SignatureError, match="301 s away from now"):
        verify("secret-secret-secret", header, BODY, now=1_301)
    with pytest.raises(SignatureError, match="missing X-Patchwire-Signature"):
        verify("secret-secret-secret", None, BODY)
    with pytest.raises(SignatureError, match="malformed"):
        verify("secret-secret-secret", "v1=abc", BODY)
