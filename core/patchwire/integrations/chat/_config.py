"""The configuration an agent gives the ``chat`` integration in agent.toml."""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator, Field

from patchwire._models import WireModel

__all__ = ["MAX_REQUEST_BYTES", "ChatConfiguration"]

MAX_REQUEST_BYTES = 16 * 1024 * 1024
"""The highest ``maxRequestBytes`` one may configure (the server's own limit for the routes)."""

_ORIGIN = re.compile(r"https?://[a-z0-9.-]+(:[0-9]{1,5})?|https?://\[[0-9a-f:.]+\](:[0-9]{1,5})?")


def _origin(value: str) -> str:
    """An origin as browsers send it: scheme, host and optional port, nothing else."""
    origin = value.strip().lower()
    if _ORIGIN.fullmatch(origin) is None:
        raise ValueError(
            f"{value!r} is not an origin: write scheme://host[:port] with no path or trailing "
            "slash, e.g. https://www.example.com or http://localhost:3000"
        )
    return origin


class ChatConfiguration(WireModel):
    """Secrets, limits and the cross-origin policy of one chat API.

    ``encryption_key`` (usually ``"${CHAT_ENCRYPTION_KEY}"``) lets a backend mint user keys for
    its own user ids; without it only keys issued by create-user are accepted. It must be at
    least 32 characters: RFC 7518 asks HS256 keys to be as long as the hash.

    ``allowed_origins`` lists the web origins whose pages may call the API from a browser (an
    embedded web chat); by default none, so only pages the agent serves itself can.
    """

    encryption_key: str | None = Field(default=None, min_length=32)
    allowed_origins: list[Annotated[str, AfterValidator(_origin)]] = Field(default_factory=list)
    max_request_bytes: int = Field(default=128 * 1024, ge=1024, le=MAX_REQUEST_BYTES)
    page_size: int = Field(default=20, ge=1, le=100)
    keepalive_seconds: float = Field(default=15.0, gt=0, le=55)
    listener_queue_size: int = Field(default=1000, ge=10)
