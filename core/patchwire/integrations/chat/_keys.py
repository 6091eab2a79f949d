"""User keys: HS256 JWTs whose claims are ``{"id": <chat user id>}``.

Keys issued by create-user are signed with a secret the agent keeps in its own state, so every
server process sharing a database accepts them and a restart does not log anyone out. Keys made
by the caller ("manual" user ids) are signed with the configured encryption key instead.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import jwt

from patchwire.integrations.chat._errors import ApiError, unauthorized

__all__ = ["sign_user_key", "user_id_from_key"]

_ALGORITHM = "HS256"
_VERIFIED_SIZE = 4096
_verified: dict[tuple[str, str], dict[str, Any]] = {}
"""Claims of keys already verified, by (key, secret): every chat request sends its key, and
verifying an HS256 signature costs more than the rest of the check. Keys with a time limit
(``exp``, ``nbf``) are verified every time."""


def sign_user_key(user_id: str, secret: str) -> str:
    return jwt.encode({"id": user_id}, secret, algorithm=_ALGORITHM)


def user_id_from_key(key: str | None, secrets: Iterable[str]) -> str:
    """The user id a key vouches for, or an ``Unauthorized`` error saying why it is refused."""
    if not key:
        raise unauthorized(
            "missing header x-user-key: create a user (POST /users) and send the key it returns"
        )
    error: ApiError | None = None
    for secret in secrets:
        try:
            claims = _decode(key, secret)
        except jwt.InvalidSignatureError:
            continue
        except jwt.PyJWTError as invalid:
            error = unauthorized(f"x-user-key is not a valid HS256 JWT: {invalid}")
            break
        user_id = claims.get("id")
        if not isinstance(user_id, str) or not user_id:
            raise unauthorized('x-user-key has no "id" claim: sign {"id": "<user id>"}')
        return user_id
    raise error or unauthorized(
        "x-user-key is not signed by this agent: use the key returned by POST /users, or sign "
        '{"id": "<user id>"} with HS256 and the encryption key configured for this integration'
    )


def _decode(key: str, secret: str) -> dict[str, Any]:
    claims = _verified.get((key, secret))
    if claims is None:
        claims = jwt.decode(key, secret, algorithms=[_ALGORITHM])
        if "exp" not in claims and "nbf" not in claims:
            if len(_verified) >= _VERIFIED_SIZE:
                _verified.clear()
            _verified[key, secret] = claims
    return claims
