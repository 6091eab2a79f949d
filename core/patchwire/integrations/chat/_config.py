"""The configuration an agent gives the ``chat`` integration in agent.toml."""

from __future__ import annotations

from pydantic import Field

from patchwire._models import WireModel

__all__ = ["ChatConfiguration"]


class ChatConfiguration(WireModel):
    """Secrets and limits of one chat API.

    ``encryption_key`` (usually ``"${CHAT_ENCRYPTION_KEY}"``) lets a backend mint user keys for
    its own user ids; without it only keys issued by create-user are accepted. It must be at
    least 32 characters: RFC 7518 asks HS256 keys to be as long as the hash.
    """

    encryption_key: str | None = Field(default=None, min_length=32)
    max_request_bytes: int = Field(default=128 * 1024, ge=1024, le=16 * 1024 * 1024)
    page_size: int = Field(default=20, ge=1, le=100)
    keepalive_seconds: float = Field(default=15.0, gt=0, le=55)
    listener_queue_size: int = Field(default=1000, ge=10)
