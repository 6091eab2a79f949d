"""The desk's own SQLite file: the people, the conversations waiting for a human, their messages.

The desk is a reference service, so its schema is created on open rather than migrated; a new
release of the desk that changes it says so in its changelog.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar, Literal

from sqlalchemy import JSON, DateTime, ForeignKey, Integer, String, Text, select
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

__all__ = ["DeskConflict", "DeskStore", "Status"]

Status = Literal["waiting", "claimed", "closed"]


class DeskConflict(ValueError):
    """An action that does not fit the conversation's state (claimed by another agent, closed)."""


def _now() -> datetime:
    return datetime.now(UTC)


def _new_id(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:16]}"


class _Base(DeclarativeBase):
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        dict[str, Any]: JSON,
        datetime: DateTime(timezone=True),
    }


class PersonRow(_Base):
    __tablename__ = "people"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    name: Mapped[str] = mapped_column(String(500))
    email: Mapped[str | None] = mapped_column(String(500))
    picture_url: Mapped[str | None] = mapped_column(Text)


class ConversationRow(_Base):
    __tablename__ = "conversations"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    person_id: Mapped[str] = mapped_column(ForeignKey("people.id"))
    patchwire_conversation_id: Mapped[str | None] = mapped_column(String(100))
    title: Mapped[str | None] = mapped_column(Text)
    description: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(20), default="waiting")
    agent: Mapped[str | None] = mapped_column(String(200))
    closed_by: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(default=_now)
    updated_at: Mapped[datetime] = mapped_column(default=_now)


class MessageRow(_Base):
    __tablename__ = "messages"

    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    id: Mapped[str] = mapped_column(String(40), unique=True)
    conversation_id: Mapped[str] = mapped_column(ForeignKey("conversations.id"), index=True)
    author_kind: Mapped[str] = mapped_column(String(10))
    author: Mapped[str] = mapped_column(String(500))
    type: Mapped[str] = mapped_column(String(40))
    payload: Mapped[dict[str, Any]]
    delivery: Mapped[str] = mapped_column(String(20), default="delivered")
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=_now)


def _timestamp(moment: datetime) -> str:
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).isoformat()


class DeskStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self._session = async_sessionmaker(engine, expire_on_commit=False)

    @classmethod
    async def open(cls, path: Path) -> DeskStore:
        path.parent.mkdir(parents=True, exist_ok=True)
        engine = create_async_engine(f"sqlite+aiosqlite:///{path}")
        async with engine.begin() as connection:
            await connection.run_sync(_Base.metadata.create_all)
        return cls(engine)

    async def close(self) -> None:
        await self.engine.dispose()

    async def add_person(
        self, name: str, email: str | None = None, picture_url: str | None = None
    ) -> str:
        async with self._session.begin() as session:
            person = PersonRow(
                id=_new_id("person"), name=name, email=email, picture_url=picture_url
            )
            session.add(person)
        return person.id

    async def open_conversation(
        self,
        person_id: str,
        *,
        title: str | None,
        description: str | None,
        history: list[tuple[str, str, str, dict[str, Any]]],
    ) -> str:
        """A waiting conversation; ``history`` is (author kind, author, type, payload)."""
        async with self._session.begin() as session:
            if await session.get(PersonRow, person_id) is None:
                raise KeyError(f"no person {person_id!r}: create it with /createRemoteUser")
            conversation = ConversationRow(
                id=_new_id("conv"), person_id=person_id, title=title, description=description
            )
            session.add(conversation)
            await session.flush()
            for kind, author, type, payload in history:
                session.add(self._message(conversation.id, kind, author, type, payload))
        return conversation.id

    @staticmethod
    def _message(
        conversation_id: str, kind: str, author: str, type: str, payload: dict[str, Any]
    ) -> MessageRow:
        return MessageRow(
            id=_new_id("msg"),
            conversation_id=conversation_id,
            author_kind=kind,
            author=author,
            type=type,
            payload=payload,
        )

    async def _conversation(self, session: Any, conversation_id: str) -> ConversationRow:
        found = await session.get(ConversationRow, conversation_id)
        if found is None:
            raise KeyError(f"no conversation {conversation_id!r}")
        assert isinstance(found, ConversationRow)
        return found

    async def person_name(self, person_id: str) -> str | None:
        async with self._session() as session:
            person = await session.get(PersonRow, person_id)
            return person.name if person else None

    async def conversation_person(self, conversation_id: str) -> str:
        async with self._session() as session:
            return (await self._conversation(session, conversation_id)).person_id

    async def add_message(
        self,
        conversation_id: str,
        *,
        kind: str,
        author: str,
        type: str,
        payload: dict[str, Any],
        agent: str | None = None,
    ) -> str:
        """Store a message; with ``agent`` set, only that agent's claimed conversation takes it."""
        async with self._session.begin() as session:
            conversation = await self._conversation(session, conversation_id)
            if conversation.status == "closed":
                raise DeskConflict("the conversation is closed")
            if agent is not None and conversation.agent != agent:
                owner = conversation.agent or "nobody"
                raise DeskConflict(f"claim the conversation first (claimed by {owner})")
            message = self._message(conversation_id, kind, author, type, payload)
            session.add(message)
            conversation.updated_at = _now()
        return message.id

    async def agent_message(self, message_id: str) -> tuple[str, dict[str, Any]]:
        """The conversation and view of a message an agent wrote (to deliver it again)."""
        async with self._session() as session:
            message = await session.scalar(select(MessageRow).where(MessageRow.id == message_id))
        if message is None or message.author_kind != "agent":
            raise KeyError(f"no agent message {message_id!r}")
        return message.conversation_id, _message_view(message)

    async def mark_delivery(self, message_id: str, error: str | None) -> None:
        """Record whether the agent took the message (``error`` None) or why not."""
        async with self._session.begin() as session:
            message = await session.scalar(select(MessageRow).where(MessageRow.id == message_id))
            if message is not None:
                message.delivery = "failed" if error else "delivered"
                message.error = error

    async def claim(self, conversation_id: str, agent: str) -> bool:
        """True when ``agent`` now holds it (False: it already did)."""
        async with self._session.begin() as session:
            conversation = await self._conversation(session, conversation_id)
            if conversation.status == "closed":
                raise DeskConflict("the conversation is closed")
            if conversation.agent == agent:
                return False
            if conversation.agent is not None:
                raise DeskConflict(f"already claimed by {conversation.agent}")
            conversation.agent = agent
            conversation.status = "claimed"
            conversation.updated_at = _now()
            return True

    async def release(self, conversation_id: str, agent: str) -> None:
        """Undo a claim the agent could not be told about."""
        async with self._session.begin() as session:
            conversation = await self._conversation(session, conversation_id)
            if conversation.agent == agent and conversation.status == "claimed":
                conversation.agent = None
                conversation.status = "waiting"

    async def close_conversation(self, conversation_id: str, closed_by: str) -> bool:
        """True when this call closed it (False: it was closed already)."""
        async with self._session.begin() as session:
            conversation = await self._conversation(session, conversation_id)
            if conversation.status == "closed":
                return False
            conversation.status = "closed"
            conversation.closed_by = closed_by
            conversation.updated_at = _now()
            return True

    async def link(self, conversation_id: str, patchwire_conversation_id: str) -> None:
        async with self._session.begin() as session:
            conversation = await self._conversation(session, conversation_id)
            conversation.patchwire_conversation_id = patchwire_conversation_id

    async def conversations(self) -> list[dict[str, Any]]:
        """Every conversation, newest activity first, without its messages (the queue)."""
        async with self._session() as session:
            rows = (
                await session.execute(
                    select(ConversationRow, PersonRow)
                    .join(PersonRow, PersonRow.id == ConversationRow.person_id)
                    .order_by(ConversationRow.updated_at.desc())
                )
            ).all()
        return [_conversation_view(conversation, person) for conversation, person in rows]

    async def conversation(self, conversation_id: str) -> dict[str, Any]:
        """One conversation with its whole history."""
        async with self._session() as session:
            conversation = await self._conversation(session, conversation_id)
            person = await session.get(PersonRow, conversation.person_id)
            messages = (
                await session.scalars(
                    select(MessageRow)
                    .where(MessageRow.conversation_id == conversation_id)
                    .order_by(MessageRow.seq)
                )
            ).all()
        assert person is not None
        view = _conversation_view(conversation, person)
        view["messages"] = [_message_view(message) for message in messages]
        return view


def _conversation_view(conversation: ConversationRow, person: PersonRow) -> dict[str, Any]:
    return {
        "id": conversation.id,
        "title": conversation.title,
        "description": conversation.description,
        "status": conversation.status,
        "agent": conversation.agent,
        "closedBy": conversation.closed_by,
        "person": {"id": person.id, "name": person.name, "email": person.email},
        "createdAt": _timestamp(conversation.created_at),
        "updatedAt": _timestamp(conversation.updated_at),
    }


def _message_view(message: MessageRow) -> dict[str, Any]:
    return {
        "id": message.id,
        "authorKind": message.author_kind,
        "author": message.author,
        "type": message.type,
        "payload": message.payload,
        "delivery": message.delivery,
        "error": message.error,
        "createdAt": _timestamp(message.created_at),
    }
