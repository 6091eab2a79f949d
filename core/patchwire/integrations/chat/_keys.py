"""User keys: HS256 JWTs whose claims are ``{"id": <chat user id>}``.

Keys issued by create-user are signed with a secret the agent keeps in its own state, so every
server process sharing a database accepts them and a restart does not log anyone out. Keys made
by the caller ("manual" user ids) are signed with the configured encryption key instead.
"""

from __future__ import annotations

from collections.abc import Iterable

import jwt

from patchwire.integrations.chat._errors import ApiError, unauthorized

__all__ = ["sign_user_key", "user_id_from_key"]

_ALGORITHM = "HS256"


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
            claims = jwt.decode(key, secret, algorithms=[_ALGORITHM])
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
