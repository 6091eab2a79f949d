"""The Chat API's resources as the HTTP layer sees them, already in their wire form."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

__all__ = ["ChatCaller", "ChatConversation", "ChatEvent", "ChatMessage", "ChatUser", "iso"]


def iso(moment: datetime) -> str:
    """ISO 8601 with milliseconds and ``Z``, the form the official client's schemas accept."""
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass(frozen=True)
class ChatCaller:
    """The user a request is made by, as authenticating it finds them: their id and the
    agent's store record, without the profile (a read more, which only ``GET /users/me``
    needs)."""

    id: str
    store_id: str | None = None


@dataclass(frozen=True)
class ChatUser:
    id: str
    name: str | None
    picture_url: str | None
    profile: str | None
    created_at: datetime
    updated_at: datetime
    store_id: str | None = None
    """The agent's store record (not on the wire): a request that found the user acts on it
    without finding it again."""

    def wire(self) -> dict[str, Any]:
        fields: dict[str, Any] = {
            "id": self.id,
            "createdAt": iso(self.created_at),
            "updatedAt": iso(self.updated_at),
        }
        for key, value in (
            ("name", self.name),
            ("pictureUrl", self.picture_url),
            ("profile", self.profile),
        ):
            if value is not None:
                fields[key] = value
        return fields


@dataclass(frozen=True)
class ChatConversation:
    id: str
    created_at: datetime
    updated_at: datetime
    owner_id: str | None = None
    """The creator, who cannot be removed from the participants (not on the wire)."""
    store_id: str | None = None
    """The agent's store record (not on the wire), as for :attr:`ChatUser.store_id`."""

    def wire(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "createdAt": iso(self.created_at),
            "updatedAt": iso(self.updated_at),
        }


@dataclass(frozen=True)
class ChatMessage:
    id: str
    conversation_id: str
    user_id: str
    payload: dict[str, Any]
    metadata: dict[str, Any] | None
    is_bot: bool
    created_at: datetime

    def wire(self) -> dict[str, Any]:
        """The message as operations answer it (no ``isBot``: only signals carry it)."""
        fields: dict[str, Any] = {
            "id": self.id,
            "createdAt": iso(self.created_at),
            "conversationId": self.conversation_id,
            "userId": self.user_id,
            "payload": self.payload,
        }
        if self.metadata is not None:
            fields["metadata"] = self.metadata
        return fields

    def signal(self) -> dict[str, Any]:
        """The ``message_created`` signal's data: the wire form plus ``isBot``."""
        return {**self.wire(), "isBot": self.is_bot}


@dataclass(frozen=True)
class ChatEvent:
    id: str
    conversation_id: str
    user_id: str
    payload: dict[str, Any]
    is_bot: bool
    created_at: datetime

    def wire(self) -> dict[str, Any]:
        """The event as operations answer it (no ``isBot``: only signals carry it)."""
        return {
            "id": self.id,
            "createdAt": iso(self.created_at),
            "conversationId": self.conversation_id,
            "userId": self.user_id,
            "payload": self.payload,
        }

    def signal(self) -> dict[str, Any]:
        """The ``event_created`` signal's data: the wire form plus ``isBot``."""
        return {**self.wire(), "isBot": self.is_bot}
