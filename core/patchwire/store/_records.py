"""What the store returns: frozen records, never ORM objects, so callers cannot write behind it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

__all__ = [
    "Conversation",
    "Direction",
    "Event",
    "Job",
    "Message",
    "MessagePage",
    "Participant",
    "ScheduledEvent",
    "User",
]

Direction = Literal["incoming", "outgoing"]


@dataclass(frozen=True)
class User:
    id: str
    integration: str
    name: str | None
    picture_url: str | None
    tags: Mapping[str, str]
    created_at: datetime


@dataclass(frozen=True)
class Conversation:
    id: str
    integration: str
    channel: str
    tags: Mapping[str, str]
    created_at: datetime


@dataclass(frozen=True)
class Participant:
    """A user taking part in a conversation, both as stored, and since when."""

    conversation: Conversation
    user: User
    joined_at: datetime


@dataclass(frozen=True)
class Message:
    id: str
    conversation_id: str
    user_id: str | None
    sequence: int
    direction: Direction
    type: str
    payload: Mapping[str, Any]
    metadata: Mapping[str, Any] | None
    status: str
    tags: Mapping[str, str]
    created_at: datetime

    @property
    def text(self) -> str:
        """The text of a ``text`` or ``markdown`` message; empty for every other type."""
        value = self.payload.get("text", self.payload.get("markdown", ""))
        return value if isinstance(value, str) else ""


@dataclass(frozen=True)
class MessagePage:
    messages: list[Message]
    next_cursor: str | None


@dataclass(frozen=True)
class Event:
    id: str
    type: str
    source: str
    payload: Mapping[str, Any]
    conversation_id: str | None
    user_id: str | None
    created_at: datetime


@dataclass(frozen=True)
class ScheduledEvent:
    id: str
    type: str
    source: str
    payload: Mapping[str, Any]
    conversation_id: str | None
    user_id: str | None
    due_at: datetime
    status: str

    def as_event(self) -> Event:
        """The event this becomes when it fires (its id and time are the schedule's)."""
        return Event(
            id=self.id,
            type=self.type,
            source=self.source,
            payload=self.payload,
            conversation_id=self.conversation_id,
            user_id=self.user_id,
            created_at=self.due_at,
        )


@dataclass(frozen=True)
class Job:
    """A unit of durable work of one conversation: an incoming message or event, a delivery."""

    id: int
    conversation_id: str
    kind: str
    payload: Mapping[str, Any] = field(default_factory=dict)
    attempts: int = 0
    """Failed attempts so far."""
    runs: int = 0
    """Times it was claimed; above one, a run before may have done some of its work."""
    status: str = "pending"
    last_error: str | None = None
    available_at: datetime | None = None
    failing_since: datetime | None = None
    leased_by: str | None = None
    subject: tuple[Message, Conversation, User | None] | None = None
    """A claimed message job's message, conversation and author, read with the claim."""
