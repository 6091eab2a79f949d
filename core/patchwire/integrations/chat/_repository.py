"""What the Chat API needs from storage, in its own vocabulary.

The HTTP layer depends on this protocol only; the implementation over the runtime's host API
lives in ``_host.py``. Ids here are the Chat API's ids (chosen by clients or generated), never
the store's internal ones.
"""

from __future__ import annotations

from typing import Any, Protocol

from pydantic import BaseModel

from patchwire.integrations.chat._records import (
    ChatCaller,
    ChatConversation,
    ChatEvent,
    ChatMessage,
    ChatUser,
)

__all__ = ["ChatRepository"]


class ChatRepository(Protocol):
    async def signing_secret(self) -> str:
        """The secret that signs issued user keys: the same in every process, across restarts."""

    async def get_user(self, user_id: str) -> ChatUser | None: ...

    async def get_caller(self, user_id: str) -> ChatCaller | None:
        """The user, if they exist, as a request by them needs it (no profile)."""

    async def create_user(
        self,
        user_id: str | None,
        *,
        name: str | None,
        picture_url: str | None,
        profile: str | None,
    ) -> ChatUser | None:
        """The new user, or None when ``user_id`` is taken."""

    async def update_user(self, user_id: str, fields: dict[str, Any]) -> ChatUser: ...

    async def delete_user(self, user_id: str) -> None: ...

    async def get_conversation(self, conversation_id: str) -> ChatConversation | None: ...

    async def create_conversation(
        self, conversation_id: str | None, creator: ChatCaller
    ) -> ChatConversation | None:
        """The new conversation with its creator as participant, or None when the id is taken."""

    async def delete_conversation(self, conversation_id: str) -> None: ...

    async def list_conversations(
        self, user_id: str, token: str | None, limit: int
    ) -> tuple[list[ChatConversation], str | None]: ...

    async def find_member(
        self, conversation_id: str, user_id: str
    ) -> tuple[ChatCaller, ChatConversation] | None:
        """The user and the conversation, when both exist and the user takes part in it: what
        every request about a conversation checks first, in one read."""

    async def add_participant(self, conversation_id: str, user_id: str) -> bool:
        """True when the user was not a participant yet."""

    async def remove_participant(self, conversation_id: str, user_id: str) -> bool:
        """True when the user was a participant."""

    async def list_participants(
        self, conversation: ChatConversation, token: str | None, limit: int
    ) -> tuple[list[ChatUser], str | None]: ...

    async def receive_message(
        self,
        conversation: ChatConversation,
        sender: ChatCaller,
        message_type: str,
        payload: BaseModel,
        metadata: dict[str, Any] | None,
    ) -> ChatMessage:
        """Store an incoming message and hand it to the runtime pipeline (``conversation`` and
        ``sender`` as the request found them, so they need not be found again)."""

    async def get_message(self, message_id: str) -> ChatMessage | None: ...

    async def list_messages(
        self, conversation_id: str, token: str | None, limit: int
    ) -> tuple[list[ChatMessage], str | None]:
        """Newest first; the token continues with older messages."""

    async def delete_message(self, message_id: str) -> None: ...

    async def create_event(
        self, conversation_id: str, user_id: str, payload: dict[str, Any]
    ) -> ChatEvent: ...

    async def get_event(self, event_id: str) -> ChatEvent | None: ...
