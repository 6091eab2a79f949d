"""The desk's data: the people, the conversations waiting for a human, their messages.

Accounts and logins (:mod:`._accounts`) and what the protocol routes remember (:mod:`._memory`)
live in the same database and are reached from here, so one ``DeskStore`` is the desk's state.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from patchwire_generic_hitl.desk._accounts import Accounts, Agent
from patchwire_generic_hitl.desk._database import open_engine
from patchwire_generic_hitl.desk._memory import Memory
from patchwire_generic_hitl.desk._tables import ConversationRow, MessageRow, PersonRow, now

__all__ = [
    "UNNAMED",
    "DeskConflict",
    "DeskForbidden",
    "DeskStore",
    "HistoryEntry",
    "Status",
    "add_agent",
    "display_name",
]

Status = Literal["waiting", "claimed", "closed"]
HistoryEntry = tuple[Literal["user", "bot"], str, dict[str, Any]]
"""One message of the transcript patchwire hands over: who (user or bot), type, payload."""

UNNAMED = frozenset({"", "Unknown User"})
"""Names that say nobody told us the user's name (the ``hitl`` plugin's placeholder)."""
BOT_AUTHOR = "Bot"

CLOSE_NOTES = {
    "unclaimed": "Nobody claimed this conversation before the bot ended it: the wait for an "
    "agent ran out, or the user left.",
    "ended": "The conversation was ended on the user's side.",
}
"""The desk's own line in the history when patchwire closes a conversation, by its state then."""


class DeskConflict(ValueError):
    """An action that does not fit the conversation's state (claimed by another agent, closed)."""


class DeskForbidden(PermissionError):
    """The logged-in agent may not do this (someone else's conversation, not an admin)."""


def _new_id(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:16]}"


def _timestamp(moment: datetime) -> str:
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).isoformat()


def display_name(person: PersonRow) -> str:
    """The user's name, or "Visitor" and a short id when patchwire did not know it."""
    if person.name.strip() not in UNNAMED:
        return person.name
    return person.email or f"Visitor {person.id[-4:]}"


class DeskStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self._session = async_sessionmaker(engine, expire_on_commit=False)
        self.accounts = Accounts(self._session)
        self.memory = Memory(self._session)

    @classmethod
    async def open(cls, database: Path | str) -> DeskStore:
        """Open (and create or migrate) the database: a SQLite path or a database URL."""
        return cls(await open_engine(database))

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
        history: list[HistoryEntry],
    ) -> str:
        """A waiting conversation with the transcript patchwire handed over.

        The bot's lines that repeat what one of our agents said to this person in an earlier
        conversation are shown as that agent's: patchwire's transcript calls them the bot's.
        """
        async with self._session.begin() as session:
            person = await session.get(PersonRow, person_id)
            if person is None:
                raise KeyError(f"no person {person_id!r}: create it with /createRemoteUser")
            earlier = await self._earlier_agent_lines(session, person_id)
            conversation = ConversationRow(
                id=_new_id("conv"), person_id=person_id, title=title, description=description
            )
            session.add(conversation)
            await session.flush()
            for source, type, payload in history:
                kind, author, delivery = "user", display_name(person), "delivered"
                if source == "bot":
                    kind, author = "bot", BOT_AUTHOR
                    agent = _take_match(earlier, type, payload)
                    if agent is not None:
                        kind, author, delivery = "agent", agent, "history"
                message = self._message(conversation.id, kind, author, type, payload)
                message.delivery = delivery
                session.add(message)
        return conversation.id

    @staticmethod
    async def _earlier_agent_lines(
        session: AsyncSession, person_id: str
    ) -> list[tuple[str, dict[str, Any], str]]:
        rows = await session.scalars(
            select(MessageRow)
            .join(ConversationRow, ConversationRow.id == MessageRow.conversation_id)
            .where(ConversationRow.person_id == person_id, MessageRow.author_kind == "agent")
            .order_by(MessageRow.seq)
        )
        return [(row.type, row.payload, row.author) for row in rows]

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
            delivery="delivered",
        )

    async def _conversation(self, session: AsyncSession, conversation_id: str) -> ConversationRow:
        found = await session.get(ConversationRow, conversation_id)
        if found is None:
            raise KeyError(f"no conversation {conversation_id!r}")
        return found

    async def person_name(self, person_id: str) -> str | None:
        """The name the desk shows for the person (see :func:`display_name`)."""
        async with self._session() as session:
            person = await session.get(PersonRow, person_id)
            return display_name(person) if person else None

    async def conversation_person(self, conversation_id: str) -> str:
        async with self._session() as session:
            return (await self._conversation(session, conversation_id)).person_id

    async def add_message(
        self, conversation_id: str, *, kind: str, author: str, type: str, payload: dict[str, Any]
    ) -> str:
        """Store a message from the user or the bot (patchwire's ``/botSendsMessage``)."""
        async with self._session.begin() as session:
            conversation = await self._conversation(session, conversation_id)
            if conversation.status == "closed":
                raise DeskConflict("the conversation is closed")
            message = self._message(conversation_id, kind, author, type, payload)
            session.add(message)
            conversation.updated_at = now()
        return message.id

    async def add_reply(
        self, conversation_id: str, agent: str, *, admin: bool, type: str, payload: dict[str, Any]
    ) -> str:
        """Store an agent's reply: only in a conversation they claimed (or any, as an admin)."""
        async with self._session.begin() as session:
            conversation = await self._conversation(session, conversation_id)
            if conversation.status == "closed":
                raise DeskConflict("the conversation is closed")
            if conversation.agent is None:
                raise DeskConflict("claim the conversation first (nobody has claimed it)")
            if conversation.agent != agent and not admin:
                raise DeskForbidden(
                    f"{conversation.agent} claimed this conversation: only they or an admin "
                    "can reply"
                )
            message = self._message(conversation_id, "agent", agent, type, payload)
            session.add(message)
            conversation.updated_at = now()
        return message.id

    async def agent_message(self, message_id: str) -> tuple[str, dict[str, Any]]:
        """The conversation and view of a message an agent wrote here (to deliver it again)."""
        async with self._session() as session:
            message = await session.scalar(select(MessageRow).where(MessageRow.id == message_id))
        if message is None or message.author_kind != "agent" or message.delivery == "history":
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
            conversation.updated_at = now()
            return True

    async def release(self, conversation_id: str, agent: str) -> None:
        """Undo a claim the agent could not be told about."""
        async with self._session.begin() as session:
            conversation = await self._conversation(session, conversation_id)
            if conversation.agent == agent and conversation.status == "claimed":
                conversation.agent = None
                conversation.status = "waiting"

    async def check_can_close(self, conversation_id: str, agent: str, *, admin: bool) -> None:
        """Raise unless ``agent`` may close it: the claimer, or an admin."""
        async with self._session() as session:
            conversation = await self._conversation(session, conversation_id)
        if conversation.status == "closed":
            raise DeskConflict("the conversation is closed already")
        if admin or conversation.agent == agent:
            return
        if conversation.agent is None:
            raise DeskForbidden("nobody claimed this conversation: claim it first, or ask an admin")
        raise DeskForbidden(
            f"{conversation.agent} claimed this conversation: only they or an admin can close it"
        )

    async def close_by_agent(self, conversation_id: str, agent: str) -> bool:
        """Closed in the desk by ``agent``; True when this call closed it."""
        return await self._close(conversation_id, closed_by=agent, reason="agent")

    async def close_by_patchwire(self, conversation_id: str) -> bool:
        """Closed by patchwire (``/closeRemoteTicket``); the history says how it ended."""
        async with self._session() as session:
            claimed = (await self._conversation(session, conversation_id)).agent is not None
        reason = "ended" if claimed else "unclaimed"
        return await self._close(conversation_id, closed_by="the bot", reason=reason)

    async def _close(self, conversation_id: str, *, closed_by: str, reason: str) -> bool:
        async with self._session.begin() as session:
            conversation = await self._conversation(session, conversation_id)
            if conversation.status == "closed":
                return False
            conversation.status = "closed"
            conversation.closed_by = closed_by
            conversation.closed_reason = reason
            conversation.updated_at = now()
            note = CLOSE_NOTES.get(reason)
            if note is not None:
                session.add(
                    self._message(conversation_id, "system", "Desk", "text", {"text": note})
                )
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


def _take_match(
    earlier: list[tuple[str, dict[str, Any], str]], type: str, payload: dict[str, Any]
) -> str | None:
    """The agent who wrote this exact message before (each earlier message matches once)."""
    for index, (their_type, their_payload, author) in enumerate(earlier):
        if their_type == type and their_payload == payload:
            del earlier[index]
            return author
    return None


def _conversation_view(conversation: ConversationRow, person: PersonRow) -> dict[str, Any]:
    return {
        "id": conversation.id,
        "title": conversation.title,
        "description": conversation.description,
        "status": conversation.status,
        "agent": conversation.agent,
        "closedBy": conversation.closed_by,
        "closedReason": conversation.closed_reason,
        "person": {
            "id": person.id,
            "name": person.name,
            "displayName": display_name(person),
            "email": person.email,
        },
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


async def add_agent(
    database: Path | str, name: str, password: str, *, admin: bool = False, replace: bool = False
) -> Agent:
    """Open the desk's database, add (or, with ``replace``, reset) an account, close it again.

    What ``patchwire desk add-agent`` and ``patchwire demo`` run, before or beside a desk.
    """
    store = await DeskStore.open(database)
    try:
        return await store.accounts.add(name, password, admin=admin, replace=replace)
    finally:
        await store.close()
