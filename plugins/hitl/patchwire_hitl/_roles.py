"""Which users stand for human agents: integrations tag them ``role=agent``."""

from __future__ import annotations

from patchwire.store import User

__all__ = ["AGENT_ROLE_TAG", "is_human_agent"]

AGENT_ROLE_TAG = "role"
"""Integrations tag the users that stand for human agents ``role=agent``."""


def is_human_agent(user: User | None) -> bool:
    """Only these authors assign themselves by writing (never a requester replying by email)."""
    return user is not None and user.tags.get(AGENT_ROLE_TAG) == "agent"
