"""Fixtures: the Chat API over an in-memory repository, called through httpx's ASGI transport."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from pydantic import BaseModel
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from patchwire.integrations.chat._api import ChatApi
from patchwire.integrations.chat._config import ChatConfiguration
from patchwire.integrations.chat._payloads import payload_to_wire
from patchwire.integrations.chat._records import ChatConversation, ChatEvent, ChatMessage, ChatUser

ENCRYPTION_KEY = "test-encryption-key-0123456789abcdef"


class MemoryRepository:
    """A ChatRepository kept in dicts: enough to exercise the HTTP layer on its own."""

    def __init__(self) -> None:
        self.users: dict[str, ChatUser] = {}
        self.conversations: dict[str, ChatConversation] = {}
        self.members: dict[str, list[str]] = {}
        self.messages: dict[str, ChatMessage] = {}
        self.events: dict[str, ChatEvent] = {}
        self.received: list[ChatMessage] = []
        self._ids = itertools.count(1)

    def _id(self, prefix: str) -> str:
        return f"{prefix}{next(self._ids):06d}"

    async def signing_secret(self) -> str:
        return "memory-signing-secret-0123456789abcdef"

    async def get_user(self, user_id: str) -> ChatUser | None:
        return self.users.get(user_id)

    async def create_user(
        self,
        user_id: str | None,
        *,
        name: str | None,
        picture_url: str | None,
        profile: str | None,
    ) -> ChatUser | None:
        user_id = user_id or self._id("user_")
        if user_id in self.users:
            return None
        now = datetime.now(UTC)
        self.users[user_id] = ChatUser(user_id, name, picture_url, profile, now, now)
        return self.users[user_id]

    async def update_user(self, user_id: str, fields: dict[str, Any]) -> ChatUser:
        self.users[user_id] = replace(self.users[user_id], **fields, updated_at=datetime.now(UTC))
        return self.users[user_id]

    async def delete_user(self, user_id: str) -> None:
        del self.users[user_id]

    async def get_conversation(self, conversation_id: str) -> ChatConversation | None:
        return self.conversations.get(conversation_id)

    async def create_conversation(
        self, conversation_id: str | None, creator_id: str
    ) -> ChatConversation | None:
        conversation_id = conversation_id or self._id("conv_")
        if conversation_id in self.conversations:
            return None
        now = datetime.now(UTC)
        self.conversations[conversation_id] = ChatConversation(conversation_id, now, now)
        self.members[conversation_id] = [creator_id]
        return self.conversations[conversation_id]

    async def delete_conversation(self, conversation_id: str) -> None:
        del self.conversations[conversation_id]

    async def list_conversations(
        self, user_id: str, token: str | None, limit: int
    ) -> tuple[list[ChatConversation], str | None]:
        mine = [c for key, c in self.conversations.items() if user_id in self.members[key]]
        return _page(mine, token, limit)

    async def participants(self, conversation_id: str) -> list[str]:
        return list(self.members.get(conversation_id, []))

    async def add_participant(self, conversation_id: str, user_id: str) -> bool:
        if user_id in self.members[conversation_id]:
            return False
        self.members[conversation_id].append(user_id)
        return True

    async def remove_participant(self, conversation_id: str, user_id: str) -> bool:
        if user_id not in self.members[conversation_id]:
            return False
        self.members[conversation_id].remove(user_id)
        return True

    async def list_participants(
        self, conversation_id: str, token: str | None, limit: int
    ) -> tuple[list[ChatUser], str | None]:
        users = [self.users[u] for u in self.members[conversation_id] if u in self.users]
        return _page(users, token, limit)

    async def receive_message(
        self,
        conversation_id: str,
        user_id: str,
        message_type: str,
        payload: BaseModel,
        metadata: dict[str, Any] | None,
    ) -> ChatMessage:
        message = ChatMessage(
            self._id("msg_"),
            conversation_id,
            user_id,
            payload_to_wire(message_type, payload.model_dump()),
            metadata,
            False,
            datetime.now(UTC),
        )
        self.messages[message.id] = message
        self.received.append(message)
        return message

    async def get_message(self, message_id: str) -> ChatMessage | None:
        return self.messages.get(message_id)

    async def list_messages(
        self, conversation_id: str, token: str | None, limit: int
    ) -> tuple[list[ChatMessage], str | None]:
        ours = [m for m in self.messages.values() if m.conversation_id == conversation_id]
        return _page(ours[::-1], token, limit)

    async def delete_message(self, message_id: str) -> None:
        del self.messages[message_id]

    async def create_event(
        self, conversation_id: str, user_id: str, payload: dict[str, Any]
    ) -> ChatEvent:
        event = ChatEvent(
            self._id("evt_"), conversation_id, user_id, payload, False, datetime.now(UTC)
        )
        self.events[event.id] = event
        return event

    async def get_event(self, event_id: str) -> ChatEvent | None:
        return self.events.get(event_id)


def _page(items: list[Any], token: str | None, limit: int) -> tuple[list[Any], str | None]:
    start = int(token or 0)
    end = start + limit
    return items[start:end], str(end) if end < len(items) else None


@pytest.fixture
def encryption_key() -> str:
    return ENCRYPTION_KEY


@pytest.fixture
def repository() -> MemoryRepository:
    return MemoryRepository()


@pytest.fixture
def api(repository: MemoryRepository) -> ChatApi:
    config = ChatConfiguration(encryption_key=ENCRYPTION_KEY, page_size=3, keepalive_seconds=0.2)
    return ChatApi(repository, config)


@pytest.fixture
async def client(api: ChatApi) -> AsyncIterator[httpx.AsyncClient]:
    async def endpoint(request: Request) -> Response:
        return await api.handle(request, request.path_params["path"])

    methods = ["GET", "POST", "PUT", "DELETE", "OPTIONS", "PATCH"]
    app = Starlette(routes=[Route("/chat/{path:path}", endpoint, methods=methods)])
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test/chat") as http:
        yield http
