"""``ChatRepository`` over the runtime's host API (the ``Context`` of one integration alias).

Chat ids live in tags (``<alias>.chatId`` on users and conversations, found by the tags'
index) because clients choose them, and per alias so ``chat`` and ``webchat`` users never
meet; the store's own ids are used only for messages and events, whose ids the store assigns.
Participants are the store's (a row each): a request by a user about a conversation finds
both and their membership in one read (``find_participant``). Chat-only data sits in states of
the integration's namespace: a user's profile, the secret that signs issued user keys. Nothing
is deleted from the store: deleting marks the record (a ``chatDeleted`` tag), and every read
treats it as absent.

``HostApi`` lists exactly what this module needs from the runtime's ``Context``.
"""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, Protocol, TypeGuard

from pydantic import BaseModel, ConfigDict

from patchwire._errors import AlreadyExistsError
from patchwire.integrations.chat._payloads import payload_to_wire
from patchwire.integrations.chat._records import (
    ChatCaller,
    ChatConversation,
    ChatEvent,
    ChatMessage,
    ChatUser,
)

__all__ = [
    "BOT_USER_ID",
    "EVENT_TYPE",
    "ContextRepository",
    "CustomEvent",
    "HostApi",
    "chat_id_tag",
]

BOT_USER_ID = "bot"
"""The chat user id of the agent itself (``isBot`` is true on its messages)."""

_DELETED_TAG = "chatDeleted"
_SECRET_STATE = "userKeySecret"
EVENT_TYPE = "custom"
"""The event a client's ``POST /events`` emits (``<alias>.custom``)."""


class CustomEvent(BaseModel):
    """Its payload: any JSON object the client sent."""

    model_config = ConfigDict(extra="allow")


class HostRecord(Protocol):
    @property
    def id(self) -> str: ...
    @property
    def tags(self) -> Mapping[str, str]: ...
    @property
    def created_at(self) -> datetime: ...


class HostUser(HostRecord, Protocol):
    @property
    def name(self) -> str | None: ...
    @property
    def picture_url(self) -> str | None: ...


class HostMessage(HostRecord, Protocol):
    @property
    def conversation_id(self) -> str: ...
    @property
    def user_id(self) -> str | None: ...
    @property
    def direction(self) -> str: ...
    @property
    def type(self) -> str: ...
    @property
    def payload(self) -> Mapping[str, Any]: ...
    @property
    def metadata(self) -> Mapping[str, Any] | None: ...


class HostEvent(Protocol):
    @property
    def id(self) -> str: ...
    @property
    def type(self) -> str: ...
    @property
    def source(self) -> str: ...
    @property
    def payload(self) -> Mapping[str, Any]: ...
    @property
    def conversation_id(self) -> str | None: ...
    @property
    def user_id(self) -> str | None: ...
    @property
    def created_at(self) -> datetime: ...


class HostParticipant(Protocol):
    @property
    def conversation(self) -> HostRecord: ...
    @property
    def user(self) -> HostUser: ...


class HostMessagePage(Protocol):
    @property
    def messages(self) -> Sequence[HostMessage]: ...
    @property
    def next_cursor(self) -> str | None: ...


class HostApi(Protocol):
    """The subset of the runtime's ``Context`` the chat integrations use."""

    @property
    def alias(self) -> str: ...

    async def find_users(self, tags: Mapping[str, str]) -> list[HostUser]: ...
    async def get_user(self, user_id: str) -> HostUser | None: ...
    async def create_user(
        self, *, name: str | None, picture_url: str | None, identity: Mapping[str, str]
    ) -> HostUser: ...
    async def update_user(
        self,
        user_id: str,
        *,
        name: str | None = None,
        picture_url: str | None = None,
        tags: Mapping[str, str] | None = None,
    ) -> HostUser: ...
    async def find_conversations(self, tags: Mapping[str, str]) -> list[HostRecord]: ...
    async def get_conversation(self, conversation_id: str) -> HostRecord | None: ...
    async def create_conversation(
        self,
        *,
        channel: str,
        tags: Mapping[str, str],
        identity: Mapping[str, str],
        participants: Sequence[str],
    ) -> HostRecord: ...
    async def update_conversation(
        self, conversation_id: str, *, tags: Mapping[str, str]
    ) -> HostRecord: ...
    async def add_participant(self, conversation_id: str, user_id: str) -> bool: ...
    async def remove_participant(self, conversation_id: str, user_id: str) -> bool: ...
    async def list_participants(self, conversation_id: str) -> list[str]: ...
    async def list_participations(self, user_id: str) -> list[str]: ...
    async def find_participant(
        self, *, conversation_tags: Mapping[str, str], user_tags: Mapping[str, str]
    ) -> HostParticipant | None: ...
    async def get_message(self, message_id: str) -> HostMessage | None: ...
    async def update_message(self, message_id: str, *, tags: Mapping[str, str]) -> HostMessage: ...
    async def list_messages(
        self, conversation_id: str, *, cursor: str | None, limit: int, newest_first: bool
    ) -> HostMessagePage: ...
    async def receive_message(
        self,
        *,
        conversation_id: str,
        user_id: str,
        type: str,
        payload: BaseModel,
        metadata: Mapping[str, Any] | None,
    ) -> HostMessage: ...
    async def emit_event(
        self,
        type: str,
        payload: Mapping[str, Any],
        *,
        conversation_id: str | None,
        user_id: str | None,
    ) -> HostEvent: ...
    async def get_event(self, event_id: str) -> HostEvent | None: ...
    async def get_state(self, scope: str, owner_id: str, name: str) -> Mapping[str, Any] | None: ...
    async def update_state(
        self, scope: str, owner_id: str, name: str, change: Callable[[Any | None], Any]
    ) -> Any | None: ...


def chat_id_tag(alias: str) -> str:
    """The tag holding the id the Chat API shows for a user or conversation of ``alias``."""
    return f"{alias}.chatId"


class ContextRepository:
    """A ``ChatRepository`` whose data lives in the store, reached through ``host``."""

    def __init__(self, host: HostApi, channel: str) -> None:
        self._host = host
        self._channel = channel
        self._id_tag = chat_id_tag(host.alias)
        self._owner_tag = f"{host.alias}.chatOwner"
        self._secret: str | None = None

    async def signing_secret(self) -> str:
        """Made by the first caller of any process; every later one, anywhere, reads it."""
        if self._secret is None:
            state = await self._host.get_state("agent", "", _SECRET_STATE)
            if not _has_secret(state):
                fresh = {"secret": secrets.token_urlsafe(48)}
                state = await self._host.update_state(
                    "agent", "", _SECRET_STATE, lambda now: now if _has_secret(now) else fresh
                )
            assert _has_secret(state)
            self._secret = str(state["secret"])
        return self._secret

    # --- users -------------------------------------------------------------------------------

    async def _host_user(self, user_id: str) -> HostUser | None:
        found = await self._host.find_users({self._id_tag: user_id})
        return next((user for user in found if self._is_chat(user)), None)

    async def _chat_user(self, user: HostUser) -> ChatUser:
        profile = await self._host.get_state("user", user.id, "profile") or {}
        return ChatUser(
            id=user.tags[self._id_tag],
            name=user.name,
            picture_url=user.picture_url,
            profile=profile.get("profile"),
            created_at=user.created_at,
            updated_at=datetime.fromisoformat(profile["updatedAt"])
            if "updatedAt" in profile
            else user.created_at,
            store_id=user.id,
        )

    async def get_user(self, user_id: str) -> ChatUser | None:
        user = await self._host_user(user_id)
        return None if user is None else await self._chat_user(user)

    async def get_caller(self, user_id: str) -> ChatCaller | None:
        user = await self._host_user(user_id)
        return None if user is None else ChatCaller(id=user_id, store_id=user.id)

    async def create_user(
        self,
        user_id: str | None,
        *,
        name: str | None,
        picture_url: str | None,
        profile: str | None,
    ) -> ChatUser | None:
        user_id = user_id or f"user_{uuid.uuid4().hex}"
        try:
            user = await self._host.create_user(
                name=name, picture_url=picture_url, identity={self._id_tag: user_id}
            )
        except AlreadyExistsError:
            return None
        await self._set_profile(user.id, profile)
        return await self._chat_user(user)

    async def _set_profile(self, host_id: str, profile: str | None) -> None:
        """Stamp ``updatedAt`` and set ``profile`` when given, keeping concurrent stamps."""
        stamp = datetime.now(UTC).isoformat()

        def change(current: Mapping[str, Any] | None) -> dict[str, Any]:
            updated = {**(current or {}), "updatedAt": stamp}
            return updated if profile is None else {**updated, "profile": profile}

        await self._host.update_state("user", host_id, "profile", change)

    async def update_user(self, user_id: str, fields: dict[str, Any]) -> ChatUser:
        user = await self._require_user(user_id)
        user = await self._host.update_user(
            user.id, name=fields.get("name"), picture_url=fields.get("picture_url")
        )
        await self._set_profile(user.id, fields.get("profile"))
        return await self._chat_user(user)

    async def delete_user(self, user_id: str) -> None:
        user = await self._require_user(user_id)
        await self._host.update_user(user.id, tags={_DELETED_TAG: "true"})

    async def _require_user(self, user_id: str) -> HostUser:
        user = await self._host_user(user_id)
        if user is None:
            raise LookupError(f"user {user_id!r} vanished")
        return user

    # --- conversations -----------------------------------------------------------------------

    async def _host_conversation(self, conversation_id: str) -> HostRecord | None:
        found = await self._host.find_conversations({self._id_tag: conversation_id})
        return next((c for c in found if self._is_chat(c)), None)

    def _chat_conversation(self, conversation: HostRecord) -> ChatConversation:
        updated = getattr(conversation, "updated_at", conversation.created_at)
        return ChatConversation(
            conversation.tags[self._id_tag],
            conversation.created_at,
            updated,
            owner_id=conversation.tags.get(self._owner_tag),
            store_id=conversation.id,
        )

    async def get_conversation(self, conversation_id: str) -> ChatConversation | None:
        conversation = await self._host_conversation(conversation_id)
        return None if conversation is None else self._chat_conversation(conversation)

    async def create_conversation(
        self, conversation_id: str | None, creator: ChatCaller
    ) -> ChatConversation | None:
        conversation_id = conversation_id or f"conv_{uuid.uuid4().hex}"
        creator_id = creator.store_id or await self._store_id_of_user(creator.id)
        try:
            conversation = await self._host.create_conversation(
                channel=self._channel,
                tags={self._owner_tag: creator.id},
                identity={self._id_tag: conversation_id},
                participants=[creator_id],
            )
        except AlreadyExistsError:
            return None
        return self._chat_conversation(conversation)

    async def delete_conversation(self, conversation_id: str) -> None:
        conversation = await self._host_conversation(conversation_id)
        if conversation is not None:
            await self._host.update_conversation(conversation.id, tags={_DELETED_TAG: "true"})

    async def list_conversations(
        self, user_id: str, token: str | None, limit: int
    ) -> tuple[list[ChatConversation], str | None]:
        user = await self._require_user(user_id)
        conversations = []
        for store_id in reversed(await self._host.list_participations(user.id)):
            conversation = await self._host.get_conversation(store_id)
            if conversation is not None and self._is_chat(conversation):
                conversations.append(self._chat_conversation(conversation))
        return _page(conversations, token, limit)

    def _is_chat(self, record: HostRecord) -> bool:
        """Whether a record is this alias's and not deleted."""
        return self._id_tag in record.tags and _DELETED_TAG not in record.tags

    # --- participants ------------------------------------------------------------------------

    async def find_member(
        self, conversation_id: str, user_id: str
    ) -> tuple[ChatCaller, ChatConversation] | None:
        """The user and the conversation when the user takes part in it (one read)."""
        found = await self._host.find_participant(
            conversation_tags={self._id_tag: conversation_id}, user_tags={self._id_tag: user_id}
        )
        if found is None or not self._is_chat(found.conversation) or not self._is_chat(found.user):
            return None
        caller = ChatCaller(id=user_id, store_id=found.user.id)
        return caller, self._chat_conversation(found.conversation)

    async def _set_membership(self, conversation_id: str, user_id: str, member: bool) -> bool:
        """Join or leave; True when it changed something."""
        conversation = await self._host_conversation(conversation_id)
        user = await self._host_user(user_id)
        if conversation is None or user is None:
            return False
        if member:
            return await self._host.add_participant(conversation.id, user.id)
        return await self._host.remove_participant(conversation.id, user.id)

    async def add_participant(self, conversation_id: str, user_id: str) -> bool:
        return await self._set_membership(conversation_id, user_id, True)

    async def remove_participant(self, conversation_id: str, user_id: str) -> bool:
        return await self._set_membership(conversation_id, user_id, False)

    async def list_participants(
        self, conversation: ChatConversation, token: str | None, limit: int
    ) -> tuple[list[ChatUser], str | None]:
        store_id = conversation.store_id or await self._store_id_of_conversation(conversation.id)
        users = []
        for user_id in await self._host.list_participants(store_id):
            user = await self._host.get_user(user_id)
            if user is not None and self._is_chat(user):
                users.append(await self._chat_user(user))
        return _page(users, token, limit)

    # --- messages ----------------------------------------------------------------------------

    async def receive_message(
        self,
        conversation: ChatConversation,
        sender: ChatCaller,
        message_type: str,
        payload: BaseModel,
        metadata: dict[str, Any] | None,
    ) -> ChatMessage:
        """Store ``sender``'s message in ``conversation``, both as this request found them."""
        conversation_id = conversation.store_id or await self._store_id_of_conversation(
            conversation.id
        )
        user_id = sender.store_id or await self._store_id_of_user(sender.id)
        message = await self._host.receive_message(
            conversation_id=conversation_id,
            user_id=user_id,
            type=message_type,
            payload=payload,
            metadata=metadata,
        )
        return await self._chat_message(message, conversation.id, sender=sender.id)

    async def _store_id_of_conversation(self, conversation_id: str) -> str:
        found = await self._host_conversation(conversation_id)
        if found is None:
            raise LookupError(f"conversation {conversation_id!r} vanished")
        return found.id

    async def _store_id_of_user(self, user_id: str) -> str:
        found = await self._host_user(user_id)
        if found is None:
            raise LookupError(f"user {user_id!r} vanished")
        return found.id

    async def outgoing(self, message: HostMessage) -> tuple[ChatMessage, str | None]:
        """An agent message as listeners see it, and a user who joined by sending it.

        A plugin may send as another user (a human agent relayed by HITL): that user becomes a
        participant so clients can show their name and picture.
        """
        conversation = await self._host.get_conversation(message.conversation_id)
        if conversation is None:
            raise LookupError(f"conversation {message.conversation_id!r} vanished")
        chat_message = await self._chat_message(message, conversation.tags[self._id_tag])
        joined = None
        # The message carries both store ids: joining needs no lookup by chat id.
        if (
            message.user_id is not None
            and chat_message.user_id != BOT_USER_ID
            and await self._host.add_participant(message.conversation_id, message.user_id)
        ):
            joined = chat_message.user_id
        return chat_message, joined

    async def _chat_user_id(self, host_user_id: str | None) -> str:
        """The chat id of a message's or event's sender: the bot, or a user given one now."""
        sender = None if host_user_id is None else await self._host.get_user(host_user_id)
        if sender is None:
            return BOT_USER_ID
        if self._id_tag not in sender.tags:
            sender = await self._host.update_user(sender.id, tags={self._id_tag: sender.id})
        return sender.tags[self._id_tag]

    async def _chat_message(
        self, message: HostMessage, conversation_id: str, *, sender: str | None = None
    ) -> ChatMessage:
        """``message`` as the chat API shows it; ``sender``: its author's chat id, when known."""
        return ChatMessage(
            id=message.id,
            conversation_id=conversation_id,
            user_id=sender or await self._chat_user_id(message.user_id),
            payload=payload_to_wire(message.type, message.payload),
            metadata=dict(message.metadata) if message.metadata is not None else None,
            is_bot=message.direction == "outgoing",
            created_at=message.created_at,
        )

    async def get_message(self, message_id: str) -> ChatMessage | None:
        message = await self._host.get_message(message_id)
        if message is None or _DELETED_TAG in message.tags:
            return None
        conversation = await self._host.get_conversation(message.conversation_id)
        if conversation is None or self._id_tag not in conversation.tags:
            return None
        return await self._chat_message(message, conversation.tags[self._id_tag])

    async def list_messages(
        self, conversation_id: str, token: str | None, limit: int
    ) -> tuple[list[ChatMessage], str | None]:
        conversation = await self._host_conversation(conversation_id)
        if conversation is None:
            return [], None
        page = await self._host.list_messages(
            conversation.id, cursor=token, limit=limit, newest_first=True
        )
        chat = [
            await self._chat_message(m, conversation_id)
            for m in page.messages
            if _DELETED_TAG not in m.tags
        ]
        return chat, page.next_cursor

    async def delete_message(self, message_id: str) -> None:
        await self._host.update_message(message_id, tags={_DELETED_TAG: "true"})

    # --- events ------------------------------------------------------------------------------

    async def create_event(
        self, conversation_id: str, user_id: str, payload: dict[str, Any]
    ) -> ChatEvent:
        conversation = await self._host_conversation(conversation_id)
        user = await self._host_user(user_id)
        if conversation is None or user is None:
            raise LookupError(f"conversation {conversation_id!r} or user {user_id!r} vanished")
        event = await self._host.emit_event(
            EVENT_TYPE, payload, conversation_id=conversation.id, user_id=user.id
        )
        return ChatEvent(event.id, conversation_id, user_id, dict(payload), False, event.created_at)

    async def get_event(self, event_id: str) -> ChatEvent | None:
        event = await self._host.get_event(event_id)
        if event is None or event.conversation_id is None:
            return None
        conversation = await self._host.get_conversation(event.conversation_id)
        if conversation is None or self._id_tag not in conversation.tags:
            return None
        return await self._chat_event(event, conversation.tags[self._id_tag])

    async def outgoing_event(self, event: HostEvent) -> ChatEvent:
        """A custom event the agent sent (``Context.send_event``) as listeners see it."""
        conversation = None
        if event.conversation_id is not None:
            conversation = await self._host.get_conversation(event.conversation_id)
        if conversation is None or self._id_tag not in conversation.tags:
            raise LookupError(f"conversation {event.conversation_id!r} is not a chat conversation")
        return await self._chat_event(event, conversation.tags[self._id_tag])

    async def _chat_event(self, event: HostEvent, conversation_id: str) -> ChatEvent:
        """Events the chat's users created come from this alias; any other came from the agent."""
        return ChatEvent(
            event.id,
            conversation_id,
            await self._chat_user_id(event.user_id),
            dict(event.payload),
            event.source != self._host.alias,
            event.created_at,
        )


def _has_secret(state: Any) -> TypeGuard[Mapping[str, Any]]:
    return isinstance(state, Mapping) and isinstance(state.get("secret"), str)


def _page(items: list[Any], token: str | None, limit: int) -> tuple[list[Any], str | None]:
    start = int(token) if token and token.isdigit() else 0
    end = start + limit
    return items[start:end], str(end) if end < len(items) else None
