"""A chat agent for tests: the real ``chat``/``webchat`` integrations over an in-memory host.

``MemoryHost`` plays the runtime's part: it keeps records in dicts and, like the runtime's
pipeline, answers every incoming message by storing an outgoing reply and handing it to the
integration's sender for the message's type. Everything the integrations do is real.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from pydantic import BaseModel
from starlette.applications import Starlette

from patchwire import AlreadyExistsError, Integration
from patchwire.integrations.chat import integration as chat_integration
from patchwire.integrations.webchat import integration as webchat_integration
from patchwire.server import integration_mount
from patchwire.testing.loopback import LoopbackServer

ENCRYPTION_KEY = "test-encryption-key-0123456789abcdef"


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class Record:
    id: str
    tags: dict[str, str]
    created_at: datetime = field(default_factory=_now)
    updated_at: datetime = field(default_factory=_now)
    channel: str = ""
    name: str | None = None
    picture_url: str | None = None


@dataclass(frozen=True)
class Message:
    id: str
    conversation_id: str
    user_id: str | None
    direction: str
    type: str
    payload: dict[str, Any]
    metadata: dict[str, Any] | None
    tags: dict[str, str] = field(default_factory=dict)
    created_at: datetime = field(default_factory=_now)


@dataclass(frozen=True)
class MessagePage:
    messages: list[Message]
    next_cursor: str | None


@dataclass(frozen=True)
class Event:
    id: str
    type: str
    source: str
    payload: dict[str, Any]
    conversation_id: str | None
    user_id: str | None
    created_at: datetime = field(default_factory=_now)


class MemoryHost:
    """The host API of one integration alias, kept in dicts, with an echoing agent."""

    def __init__(self, alias: str, integration: Integration, configuration: dict[str, Any]):
        self.alias = alias
        self.integration = integration
        self.configuration = configuration
        self.users: dict[str, Record] = {}
        self.conversations: dict[str, Record] = {}
        self.messages: dict[str, Message] = {}
        self.events: dict[str, Event] = {}
        self.states: dict[tuple[str, str, str], Any] = {}
        self.replying = True
        self._ids = itertools.count(1)
        self._tasks: set[asyncio.Task[None]] = set()

    def _id(self, prefix: str) -> str:
        return f"{prefix}{next(self._ids):06d}"

    @staticmethod
    def _find(records: Mapping[str, Record], tags: Mapping[str, str]) -> list[Record]:
        return [r for r in records.values() if all(r.tags.get(k) == v for k, v in tags.items())]

    async def find_users(self, tags: Mapping[str, str]) -> list[Record]:
        return self._find(self.users, tags)

    async def get_user(self, user_id: str) -> Record | None:
        return self.users.get(user_id)

    async def create_user(
        self,
        *,
        name: str | None = None,
        picture_url: str | None = None,
        tags: Mapping[str, str] | None = None,
        identity: Mapping[str, str] | None = None,
    ) -> Record:
        if identity and self._find(self.users, identity):
            raise AlreadyExistsError("user", dict(identity))
        every = {**(tags or {}), **(identity or {})}
        user = Record(self._id("u"), every, name=name, picture_url=picture_url)
        self.users[user.id] = user
        return user

    async def update_user(
        self,
        user_id: str,
        *,
        name: str | None = None,
        picture_url: str | None = None,
        tags: Mapping[str, str] | None = None,
    ) -> Record:
        user = self.users[user_id]
        self.users[user_id] = replace(
            user,
            name=name if name is not None else user.name,
            picture_url=picture_url if picture_url is not None else user.picture_url,
            tags={**user.tags, **(tags or {})},
            updated_at=_now(),
        )
        return self.users[user_id]

    async def find_conversations(self, tags: Mapping[str, str]) -> list[Record]:
        return self._find(self.conversations, tags)

    async def get_conversation(self, conversation_id: str) -> Record | None:
        return self.conversations.get(conversation_id)

    async def create_conversation(
        self,
        *,
        channel: str,
        tags: Mapping[str, str] | None = None,
        identity: Mapping[str, str] | None = None,
    ) -> Record:
        if identity and self._find(self.conversations, identity):
            raise AlreadyExistsError("conversation", dict(identity))
        every = {**(tags or {}), **(identity or {})}
        conversation = Record(self._id("c"), every, channel=channel)
        self.conversations[conversation.id] = conversation
        return conversation

    async def update_conversation(self, conversation_id: str, *, tags: Mapping[str, str]) -> Record:
        conversation = self.conversations[conversation_id]
        updated = replace(conversation, tags={**conversation.tags, **tags}, updated_at=_now())
        self.conversations[conversation_id] = updated
        return updated

    async def get_message(self, message_id: str) -> Message | None:
        return self.messages.get(message_id)

    async def update_message(self, message_id: str, *, tags: Mapping[str, str]) -> Message:
        message = self.messages[message_id]
        self.messages[message_id] = replace(message, tags={**message.tags, **tags})
        return self.messages[message_id]

    async def list_messages(
        self, conversation_id: str, *, cursor: str | None, limit: int, newest_first: bool
    ) -> MessagePage:
        ours = [m for m in self.messages.values() if m.conversation_id == conversation_id]
        ours = ours[::-1] if newest_first else ours
        start = int(cursor or 0)
        end = start + limit
        return MessagePage(ours[start:end], str(end) if end < len(ours) else None)

    async def receive_message(
        self,
        *,
        conversation_id: str,
        user_id: str,
        type: str,
        payload: BaseModel,
        metadata: Mapping[str, Any] | None,
    ) -> Message:
        message = Message(
            self._id("m"),
            conversation_id,
            user_id,
            "incoming",
            type,
            payload.model_dump(mode="json"),
            dict(metadata) if metadata is not None else None,
        )
        self.messages[message.id] = message
        if self.replying:
            text = message.payload.get("text", type)
            task = asyncio.get_running_loop().create_task(
                self.send(conversation_id, {"text": f"echo: {text}"})
            )
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        return message

    async def send(
        self,
        conversation_id: str,
        payload: dict[str, Any],
        *,
        type: str = "text",
        user_id: str | None = None,
    ) -> Message:
        """The outgoing path: store the agent's message, then call the channel's sender."""
        message = Message(self._id("m"), conversation_id, user_id, "outgoing", type, payload, None)
        self.messages[message.id] = message
        await self.integration.message_senders[("channel", type)](self, message)
        return message

    async def emit_event(
        self,
        type: str,
        payload: Mapping[str, Any],
        *,
        conversation_id: str | None,
        user_id: str | None,
    ) -> Event:
        event = Event(self._id("e"), type, self.alias, dict(payload), conversation_id, user_id)
        self.events[event.id] = event
        return event

    async def get_event(self, event_id: str) -> Event | None:
        return self.events.get(event_id)

    async def get_state(self, scope: str, owner_id: str, name: str) -> Any:
        return self.states.get((scope, owner_id, name))

    async def update_state(
        self, scope: str, owner_id: str, name: str, change: Callable[[Any | None], Any]
    ) -> Any:
        """Atomic as the store's: nothing else runs between the read and the write."""
        value = change(self.states.get((scope, owner_id, name)))
        if value is None:
            self.states.pop((scope, owner_id, name), None)
        else:
            self.states[(scope, owner_id, name)] = value
        return value


def webhook_app(*hosts: MemoryHost) -> Starlette:
    """Each integration's routes under ``/webhooks/{alias}/``, mounted as the server does."""
    return Starlette(
        routes=[integration_mount(host.alias, host.integration, host) for host in hosts]
    )


@pytest.fixture
def encryption_key() -> str:
    return ENCRYPTION_KEY


@pytest.fixture
def chat_host() -> MemoryHost:
    config = {"encryptionKey": ENCRYPTION_KEY, "pageSize": 3, "keepaliveSeconds": 0.2}
    return MemoryHost("chat", chat_integration, config)


@pytest.fixture
def webchat_host() -> MemoryHost:
    return MemoryHost("webchat", webchat_integration, {})


@pytest.fixture
async def client(chat_host: MemoryHost) -> AsyncIterator[httpx.AsyncClient]:
    """The chat API in process, with the echoing agent silenced."""
    chat_host.replying = False
    transport = httpx.ASGITransport(app=webhook_app(chat_host))
    base_url = "http://test/webhooks/chat"
    async with httpx.AsyncClient(transport=transport, base_url=base_url) as http:
        yield http


@pytest.fixture
async def agent_server(
    chat_host: MemoryHost, webchat_host: MemoryHost
) -> AsyncIterator[LoopbackServer]:
    server = LoopbackServer(webhook_app(chat_host, webchat_host))
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


@pytest.fixture
def served(agent_server: LoopbackServer) -> str:
    """The running agent's base URL."""
    return agent_server.url
