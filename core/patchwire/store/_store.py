"""The store facade: users, conversations, messages, tags, states and events.

Every method opens its own short transaction. Nothing outside this package touches the
database; the runtime's ``Context`` is the only caller.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import hashlib
import json
import uuid
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal, TypeAlias

from sqlalchemy import and_, bindparam, case, delete, func, insert, or_, select, text, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from patchwire._errors import AlreadyExistsError
from patchwire.store._engine import create_engine, migrate
from patchwire.store._notify import WORK, Notifier
from patchwire.store._records import (
    Conversation,
    Direction,
    Event,
    Job,
    Message,
    MessagePage,
    User,
)
from patchwire.store._tables import (
    ConversationRow,
    EventRow,
    IdempotencyKeyRow,
    MessageRow,
    StateRow,
    TagRow,
    UserRow,
    table,
)
from patchwire.store._work import AGENT_QUEUE, WorkQueue

__all__ = ["NotFoundError", "StateScope", "Store", "TagKind"]

TagKind: TypeAlias = Literal["user", "conversation", "message"]
StateScope: TypeAlias = Literal["conversation", "user", "agent"]


class NotFoundError(LookupError):
    def __init__(self, kind: str, record_id: str) -> None:
        super().__init__(f"no {kind} has id {record_id!r}")
        self.kind = kind
        self.record_id = record_id


def now() -> datetime:
    return datetime.now(UTC)


def new_id() -> str:
    return uuid.uuid4().hex


class Store(WorkQueue):
    """Durable state of one agent, on SQLite (one process) or PostgreSQL (many)."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        super().__init__(async_sessionmaker(engine, expire_on_commit=False), Notifier(engine))

    @classmethod
    async def open(cls, url: str | None = None, *, path: Path | None = None) -> Store:
        """Open (and migrate) the database at ``url``, or a SQLite file at ``path``."""
        if url is None:
            if path is None:
                raise ValueError("give a database URL or a SQLite file path")
            url = f"sqlite:///{path}"
        engine = create_engine(url)
        await migrate(engine)
        return cls(engine)

    @property
    def backend(self) -> str:
        return self.engine.dialect.name

    async def close(self) -> None:
        await self.notifier.close()
        await self.engine.dispose()

    async def ping(self) -> None:
        """Raise when the database cannot answer a trivial query."""
        async with self.engine.connect() as connection:
            await connection.execute(text("SELECT 1"))

    # --- tags ------------------------------------------------------------------------------

    async def _tags(
        self, session: AsyncSession, kind: TagKind, owner_ids: Sequence[str]
    ) -> dict[str, dict[str, str]]:
        found: dict[str, dict[str, str]] = {owner: {} for owner in owner_ids}
        if owner_ids:
            rows = await session.execute(_TAGS_OF_KIND, {"kind": kind, "owners": list(owner_ids)})
            for owner, key, value in rows:
                found[owner][key] = value
        return found

    async def _set_tags(
        self,
        session: AsyncSession,
        kind: TagKind,
        owner_id: str,
        tags: Mapping[str, str],
        *,
        new: bool = False,
    ) -> None:
        """Set ``tags`` on an owner, replacing the same keys (none to replace on a ``new`` one)."""
        if not tags:
            return
        if not new:
            await session.execute(
                _DELETE_TAGS, {"kind": kind, "owner": owner_id, "keys": list(tags)}
            )
        await session.execute(
            _INSERT_TAG,
            [
                {"kind": kind, "owner_id": owner_id, "key": key, "value": str(value)}
                for key, value in tags.items()
            ],
        )

    async def _find_by_tags(
        self, session: AsyncSession, kind: TagKind, tags: Mapping[str, str]
    ) -> list[str]:
        """Owners carrying every given tag: one query over the ``(kind, key, value)`` index."""
        rows = await session.execute(_owners_tagged(len(tags)), _tag_parameters(kind, tags))
        return [row[0] for row in rows]

    # --- users -----------------------------------------------------------------------------

    def _user(self, row: UserRow, tags: Mapping[str, str]) -> User:
        return User(
            id=row.id,
            integration=row.integration,
            name=row.name,
            picture_url=row.picture_url,
            tags=tags,
            created_at=row.created_at,
        )

    async def get_user(self, user_id: str) -> User | None:
        async with self.sessions() as session:
            row = await session.get(UserRow, user_id)
            if row is None:
                return None
            return self._user(row, (await self._tags(session, "user", [row.id]))[row.id])

    async def create_user(
        self,
        *,
        integration: str,
        name: str | None = None,
        picture_url: str | None = None,
        tags: Mapping[str, str] | None = None,
        identity: Mapping[str, str] | None = None,
    ) -> User:
        """A new user; ``identity`` tags (stored as tags too) must be unused in ``integration``.

        Raises :class:`AlreadyExistsError` when they are taken, atomically across processes.
        """
        every = {**(tags or {}), **(identity or {})}
        async with self._identified("user", integration, identity) as session:
            row = await self._insert_user(session, integration, name, picture_url, every)
            return self._user(row, every)

    @contextlib.asynccontextmanager
    async def _identified(
        self, kind: str, integration: str, identity: Mapping[str, str] | None
    ) -> AsyncIterator[AsyncSession]:
        """A transaction that first claims ``identity`` (when given) for the record it creates;
        a claim another record holds is :class:`AlreadyExistsError`."""
        try:
            async with self.sessions.begin() as session:
                if identity:
                    await self._guard_identity(session, kind, integration, identity)
                yield session
        except IntegrityError:
            if identity:
                raise AlreadyExistsError(kind, dict(identity)) from None
            raise

    async def _guard_identity(
        self, session: AsyncSession, kind: str, integration: str, identity: Mapping[str, str]
    ) -> None:
        """Claim ``identity`` for one record: the key's primary key refuses a second claim."""
        guard = _identity_key(kind, integration, identity)
        session.add(IdempotencyKeyRow(scope="identity", key=guard, created_at=now()))
        await session.flush()

    async def _insert_user(
        self,
        session: AsyncSession,
        integration: str,
        name: str | None,
        picture_url: str | None,
        tags: Mapping[str, str],
    ) -> UserRow:
        moment = now()
        row = UserRow(
            id=new_id(),
            integration=integration,
            name=name,
            picture_url=picture_url,
            created_at=moment,
            updated_at=moment,
        )
        session.add(row)
        await session.flush()
        await self._set_tags(session, "user", row.id, tags, new=True)
        return row

    async def update_user(
        self,
        user_id: str,
        *,
        name: str | None = None,
        picture_url: str | None = None,
        tags: Mapping[str, str] | None = None,
    ) -> User:
        """Change the given fields; ``tags`` are merged over the existing ones."""
        async with self.sessions.begin() as session:
            row = await session.get(UserRow, user_id)
            if row is None:
                raise NotFoundError("user", user_id)
            if name is not None:
                row.name = name
            if picture_url is not None:
                row.picture_url = picture_url
            row.updated_at = now()
            await self._set_tags(session, "user", user_id, tags or {})
            await session.flush()
            return self._user(row, (await self._tags(session, "user", [user_id]))[user_id])

    async def find_users(self, tags: Mapping[str, str]) -> list[User]:
        async with self.sessions() as session:
            ids = await self._find_by_tags(session, "user", tags)
            rows = (await session.scalars(select(UserRow).where(UserRow.id.in_(ids)))).all()
            all_tags = await self._tags(session, "user", ids)
            return [self._user(row, all_tags[row.id]) for row in rows]

    async def get_or_create_user(
        self,
        *,
        integration: str,
        tags: Mapping[str, str],
        name: str | None = None,
        picture_url: str | None = None,
    ) -> User:
        """The user with exactly these identifying ``tags``; concurrent calls make one row."""
        for found in await self.find_users(tags):
            if found.integration == integration:
                return found
        try:
            return await self.create_user(
                integration=integration, name=name, picture_url=picture_url, identity=tags
            )
        except AlreadyExistsError:
            for found in await self.find_users(tags):
                if found.integration == integration:
                    return found
            raise

    # --- conversations ---------------------------------------------------------------------

    def _conversation(self, row: ConversationRow, tags: Mapping[str, str]) -> Conversation:
        return Conversation(
            id=row.id,
            integration=row.integration,
            channel=row.channel,
            tags=tags,
            created_at=row.created_at,
        )

    async def get_conversation(self, conversation_id: str) -> Conversation | None:
        async with self.sessions() as session:
            row = await session.get(ConversationRow, conversation_id)
            if row is None:
                return None
            tags = await self._tags(session, "conversation", [row.id])
            return self._conversation(row, tags[row.id])

    async def conversation_place(self, conversation_id: str) -> tuple[str, str] | None:
        """A conversation's integration alias and channel, without its tags."""
        async with self.sessions() as session:
            found = (
                await session.execute(
                    select(ConversationRow.integration, ConversationRow.channel).where(
                        ConversationRow.id == conversation_id
                    )
                )
            ).first()
            return None if found is None else (found[0], found[1])

    async def create_conversation(
        self,
        *,
        integration: str,
        channel: str,
        tags: Mapping[str, str] | None = None,
        identity: Mapping[str, str] | None = None,
    ) -> Conversation:
        """A new conversation; ``identity`` tags work as for :meth:`create_user`."""
        every = {**(tags or {}), **(identity or {})}
        async with self._identified("conversation", integration, identity) as session:
            row = await self._insert_conversation(session, integration, channel, every)
            return self._conversation(row, every)

    async def _insert_conversation(
        self, session: AsyncSession, integration: str, channel: str, tags: Mapping[str, str]
    ) -> ConversationRow:
        moment = now()
        row = ConversationRow(
            id=new_id(),
            integration=integration,
            channel=channel,
            next_sequence=1,
            created_at=moment,
            updated_at=moment,
        )
        session.add(row)
        await session.flush()
        await self._set_tags(session, "conversation", row.id, tags, new=True)
        return row

    async def update_conversation(
        self, conversation_id: str, *, tags: Mapping[str, str]
    ) -> Conversation:
        async with self.sessions.begin() as session:
            row = await session.get(ConversationRow, conversation_id)
            if row is None:
                raise NotFoundError("conversation", conversation_id)
            row.updated_at = now()
            await self._set_tags(session, "conversation", conversation_id, tags)
            await session.flush()
            found = await self._tags(session, "conversation", [conversation_id])
            return self._conversation(row, found[conversation_id])

    async def find_conversations(
        self, tags: Mapping[str, str], *, integration: str | None = None
    ) -> list[Conversation]:
        """Conversations carrying all ``tags``; only ``integration``'s when it is given.

        One statement: the matching conversations joined with all their tags.
        """
        parameters = _tag_parameters("conversation", tags)
        parameters["integration"] = integration
        async with self.sessions() as session:
            rows = await session.execute(_conversations_tagged(len(tags)), parameters)
            found: dict[str, tuple[Any, dict[str, str]]] = {}
            for row in rows:
                found.setdefault(row.id, (row, {}))[1][row.tag_key] = row.tag_value
            return [self._conversation(row, every) for row, every in found.values()]

    async def get_or_create_conversation(
        self, *, integration: str, channel: str, tags: Mapping[str, str]
    ) -> Conversation:
        """The conversation with these identifying ``tags``; concurrent calls make one row."""
        for found in await self.find_conversations(tags, integration=integration):
            return found
        try:
            return await self.create_conversation(
                integration=integration, channel=channel, identity=tags
            )
        except AlreadyExistsError:
            for found in await self.find_conversations(tags, integration=integration):
                return found
            raise

    # --- messages --------------------------------------------------------------------------

    def _message(self, row: Any, tags: Mapping[str, str]) -> Message:
        """A message record from its ORM row, or a result row with the same column names."""
        direction: Direction = "incoming" if row.direction == "incoming" else "outgoing"
        return Message(
            id=row.id,
            conversation_id=row.conversation_id,
            user_id=row.user_id,
            sequence=row.sequence,
            direction=direction,
            type=row.type,
            payload=row.payload,
            metadata=row.meta,
            status=row.status,
            tags=tags,
            created_at=row.created_at,
        )

    async def insert_message(
        self,
        session: AsyncSession,
        *,
        conversation_id: str,
        user_id: str | None,
        direction: Direction,
        type: str,
        payload: Mapping[str, Any],
        metadata: Mapping[str, Any] | None = None,
        status: str = "stored",
        tags: Mapping[str, str] | None = None,
        effect_key: str | None = None,
    ) -> Message:
        """Insert in the caller's transaction, taking the conversation's next sequence number.

        An outgoing message of a conversation whose earlier messages wait for a retry gets
        status ``queued`` and joins them (one statement reads and counts it), so a
        conversation's messages go out in order even while its outside system is down.
        """
        numbers = (
            await session.execute(
                _NEXT_OUTGOING if direction == "outgoing" else _NEXT_INCOMING,
                {"conversation": conversation_id, "moment": now()},
            )
        ).first()
        if numbers is None:
            raise NotFoundError("conversation", conversation_id)
        sequence, undelivered = numbers
        values = {
            "id": new_id(),
            "conversation_id": conversation_id,
            "user_id": user_id,
            "sequence": sequence - 1,
            "direction": direction,
            "type": type,
            "payload": dict(payload),
            "metadata": dict(metadata) if metadata is not None else None,
            "status": "queued" if direction == "outgoing" and undelivered else status,
            "effect_key": effect_key,
            "created_at": now(),
        }
        await session.execute(_INSERT_MESSAGE, values)
        await self._set_tags(session, "message", values["id"], tags or {}, new=True)
        return Message(
            id=values["id"],
            conversation_id=conversation_id,
            user_id=user_id,
            sequence=values["sequence"],
            direction=direction,
            type=type,
            payload=values["payload"],
            metadata=values["metadata"],
            status=values["status"],
            tags=dict(tags or {}),
            created_at=values["created_at"],
        )

    # --- outgoing delivery -----------------------------------------------------------------

    async def create_outgoing(self, **fields: Any) -> Message:
        """Store an outgoing message: ``sending``, or ``queued`` behind undelivered ones."""
        async with self.sessions.begin() as session:
            return await self.insert_message(
                session, direction="outgoing", status="sending", **fields
            )

    async def outgoing_by_effect(self, effect_key: str) -> Message | None:
        """The message a job's step sent in an earlier run, if it got that far."""
        async with self.sessions() as session:
            row = await session.scalar(
                select(MessageRow).where(MessageRow.effect_key == effect_key)
            )
            if row is None:
                return None
            return self._message(row, (await self._tags(session, "message", [row.id]))[row.id])

    async def defer_delivery(self, message: Message, error: str, *, retry_at: datetime) -> None:
        """Queue a message whose delivery failed for now; the first one queues a ``deliver`` job.

        That job runs in the conversation's own queue, so later work of the conversation waits
        for it, and it delivers the queued messages in sequence order.
        """
        async with self.sessions.begin() as session:
            await session.execute(
                update(MessageRow).where(MessageRow.id == message.id).values(status="queued")
            )
            undelivered = await session.scalar(
                update(ConversationRow)
                .where(ConversationRow.id == message.conversation_id)
                .values(undelivered=ConversationRow.undelivered + 1)
                .returning(ConversationRow.undelivered)
            )
            if undelivered == 1:
                await self.enqueue_in(
                    session,
                    message.conversation_id,
                    "deliver",
                    {},
                    available_at=retry_at,
                    last_error=error,
                    failing_since=now(),
                )
                await self.notifier.in_transaction(session, WORK, retry_at.isoformat())
        self.notifier.local(WORK, retry_at.isoformat())

    async def queued_messages(self, conversation_id: str, *, limit: int = 20) -> list[Message]:
        """The conversation's messages waiting for delivery, oldest first."""
        async with self.sessions() as session:
            rows = (
                await session.scalars(
                    select(MessageRow)
                    .where(
                        MessageRow.conversation_id == conversation_id,
                        MessageRow.status == "queued",
                    )
                    .order_by(MessageRow.sequence)
                    .limit(limit)
                )
            ).all()
            tags = await self._tags(session, "message", [row.id for row in rows])
            return [self._message(row, tags[row.id]) for row in rows]

    async def settle_delivery(self, message: Message, *, error: str | None = None) -> None:
        """A queued message went out (``error`` None) or never will: it leaves the queue.

        One that never will is ``failed`` and also kept as a failed ``deliver`` job naming it,
        which is what an operator sees (``patchwire jobs``) and can retry.
        """
        async with self.sessions.begin() as session:
            await session.execute(
                update(MessageRow)
                .where(MessageRow.id == message.id)
                .values(status="sent" if error is None else "failed")
            )
            await session.execute(
                update(ConversationRow)
                .where(ConversationRow.id == message.conversation_id)
                .values(undelivered=ConversationRow.undelivered - 1)
            )
            if error is not None:
                await self.enqueue_in(
                    session,
                    message.conversation_id,
                    "deliver",
                    {"message_id": message.id},
                    status="failed",
                    last_error=error,
                    failing_since=message.created_at,
                )

    async def requeue(self, message_id: str) -> bool:
        """Queue a failed outgoing message for delivery again (an operator's retry)."""
        async with self.sessions.begin() as session:
            conversation_id = await session.scalar(
                update(MessageRow)
                .where(MessageRow.id == message_id, MessageRow.status == "failed")
                .values(status="queued")
                .returning(MessageRow.conversation_id)
            )
            if conversation_id is None:
                return False
            await session.execute(
                update(ConversationRow)
                .where(ConversationRow.id == conversation_id)
                .values(undelivered=ConversationRow.undelivered + 1)
            )
            return True

    async def create_message(self, **fields: Any) -> Message:
        async with self.sessions.begin() as session:
            return await self.insert_message(session, **fields)

    async def get_message(self, message_id: str) -> Message | None:
        async with self.sessions() as session:
            row = await session.get(MessageRow, message_id)
            if row is None:
                return None
            return self._message(row, (await self._tags(session, "message", [row.id]))[row.id])

    async def update_message(
        self, message_id: str, *, status: str | None = None, tags: Mapping[str, str] | None = None
    ) -> Message:
        async with self.sessions.begin() as session:
            row = await session.get(MessageRow, message_id)
            if row is None:
                raise NotFoundError("message", message_id)
            if status is not None:
                row.status = status
            await self._set_tags(session, "message", message_id, tags or {})
            await session.flush()
            return self._message(row, (await self._tags(session, "message", [row.id]))[row.id])

    async def set_message_status(self, message_id: str, status: str) -> None:
        async with self.sessions.begin() as session:
            await session.execute(
                update(MessageRow).where(MessageRow.id == message_id).values(status=status)
            )

    async def message_context(
        self, message_id: str
    ) -> tuple[Message, Conversation, User | None] | None:
        """A message with its conversation and author: one joined read, then their tags."""
        async with self.sessions() as session:
            return await self._message_context_in(session, message_id)

    async def _with_subject(self, session: AsyncSession, job: Job) -> Job:
        if job.kind != "message" or "message_id" not in job.payload:
            return job
        subject = await self._message_context_in(session, str(job.payload["message_id"]))
        return dataclasses.replace(job, subject=subject)

    async def _message_context_in(
        self, session: AsyncSession, message_id: str
    ) -> tuple[Message, Conversation, User | None] | None:
        row = (await session.execute(_MESSAGE_CONTEXT, {"message_id": message_id})).first()
        if row is None:
            return None
        ids = [row.id, row.conversation_id] + ([row.user_id] if row.user_found else [])
        found = await session.execute(_TAGS_OF, {"owners": ids})
        tags: dict[tuple[str, str], dict[str, str]] = {}
        for kind, owner, key, value in found:
            tags.setdefault((kind, owner), {})[key] = value
        message = self._message(row, tags.get(("message", row.id), {}))
        conversation = Conversation(
            id=row.conversation_id,
            integration=row.conversation_integration,
            channel=row.conversation_channel,
            tags=tags.get(("conversation", row.conversation_id), {}),
            created_at=row.conversation_created_at,
        )
        user = None
        if row.user_found:
            user = User(
                id=row.user_found,
                integration=row.user_integration,
                name=row.user_name,
                picture_url=row.user_picture_url,
                tags=tags.get(("user", row.user_found), {}),
                created_at=row.user_created_at,
            )
        return message, conversation, user

    async def find_messages(self, tags: Mapping[str, str]) -> list[Message]:
        async with self.sessions() as session:
            ids = await self._find_by_tags(session, "message", tags)
            rows = (await session.scalars(select(MessageRow).where(MessageRow.id.in_(ids)))).all()
            all_tags = await self._tags(session, "message", ids)
            return [self._message(row, all_tags[row.id]) for row in rows]

    async def list_messages(
        self,
        conversation_id: str,
        *,
        limit: int = 50,
        cursor: str | None = None,
        newest_first: bool = True,
    ) -> MessagePage:
        """One page of a conversation's messages; ``next_cursor`` continues it."""
        query = select(MessageRow).where(MessageRow.conversation_id == conversation_id)
        if cursor is not None:
            position = _cursor_position(cursor)
            query = query.where(
                MessageRow.sequence < position if newest_first else MessageRow.sequence > position
            )
        order = MessageRow.sequence.desc() if newest_first else MessageRow.sequence.asc()
        async with self.sessions() as session:
            rows = (await session.scalars(query.order_by(order).limit(limit + 1))).all()
            page = list(rows[:limit])
            tags = await self._tags(session, "message", [row.id for row in page])
            next_cursor = str(page[-1].sequence) if len(rows) > limit else None
            return MessagePage([self._message(row, tags[row.id]) for row in page], next_cursor)

    # --- states ----------------------------------------------------------------------------

    async def get_state(
        self, scope: StateScope, owner_id: str, namespace: str, name: str
    ) -> Any | None:
        async with self.sessions() as session:
            value = await session.scalar(
                select(StateRow.value).where(*_state_key(scope, owner_id, namespace, name))
            )
            return None if value is None else value["value"]

    async def set_state(
        self, scope: StateScope, owner_id: str, namespace: str, name: str, value: Any
    ) -> None:
        """Create or replace a state (any JSON value)."""
        key = _state_key(scope, owner_id, namespace, name)
        for _ in range(2):
            try:
                async with self.sessions.begin() as session:
                    changed = await session.execute(
                        update(StateRow)
                        .where(*key)
                        .values(value={"value": value}, updated_at=now())
                    )
                    if changed.rowcount == 0:  # type: ignore[attr-defined]
                        session.add(
                            StateRow(
                                scope=scope,
                                owner_id=owner_id,
                                namespace=namespace,
                                name=name,
                                value={"value": value},
                                updated_at=now(),
                            )
                        )
                return
            except IntegrityError:
                continue
        raise RuntimeError(f"state {namespace}/{name} kept changing while it was being set")

    async def update_state(
        self,
        scope: StateScope,
        owner_id: str,
        namespace: str,
        name: str,
        change: Callable[[Any | None], Any],
    ) -> Any | None:
        """Replace a state with ``change(current)`` in one transaction; what it stored.

        The row is locked while ``change`` runs (``SELECT ... FOR UPDATE`` on PostgreSQL, the
        write lock SQLite takes at ``BEGIN``), so concurrent updates apply one after the other
        and none is lost. ``change`` returning None deletes the state. When two first writes
        race, the loser runs ``change`` again on the winner's value.
        """
        key = _state_key(scope, owner_id, namespace, name)
        for _ in range(3):
            try:
                async with self.sessions.begin() as session:
                    row = await session.scalar(select(StateRow).where(*key).with_for_update())
                    value = change(None if row is None else row.value["value"])
                    if value is None:
                        if row is not None:
                            await session.delete(row)
                    elif row is None:
                        session.add(
                            StateRow(
                                scope=scope,
                                owner_id=owner_id,
                                namespace=namespace,
                                name=name,
                                value={"value": value},
                                updated_at=now(),
                            )
                        )
                    else:
                        row.value = {"value": value}
                        row.updated_at = now()
                    return value
            except IntegrityError:
                continue
        raise RuntimeError(f"state {namespace}/{name} kept changing while it was being updated")

    async def delete_state(
        self, scope: StateScope, owner_id: str, namespace: str, name: str
    ) -> None:
        async with self.sessions.begin() as session:
            await session.execute(
                delete(StateRow).where(*_state_key(scope, owner_id, namespace, name))
            )

    # --- events ----------------------------------------------------------------------------

    async def record_event(
        self,
        session: AsyncSession,
        *,
        type: str,
        source: str,
        payload: Mapping[str, Any],
        conversation_id: str | None = None,
        user_id: str | None = None,
        effect_key: str | None = None,
    ) -> Event:
        row = EventRow(
            id=new_id(),
            type=type,
            source=source,
            payload=dict(payload),
            conversation_id=conversation_id,
            user_id=user_id,
            effect_key=effect_key,
            created_at=now(),
        )
        session.add(row)
        await session.flush()
        return _event(row)

    async def receive(
        self,
        *,
        conversation_id: str,
        user_id: str | None,
        type: str,
        payload: Mapping[str, Any],
        metadata: Mapping[str, Any] | None = None,
        tags: Mapping[str, str] | None = None,
        dedupe: tuple[str, str] | None = None,
    ) -> Message | None:
        """Store an incoming message and queue it, in one transaction.

        With ``dedupe=(scope, key)`` a second delivery of the same key stores nothing and
        returns None.
        """
        async with self.sessions.begin() as session:
            if dedupe is not None and not await self.remember_in(session, *dedupe):
                return None
            message = await self.insert_message(
                session,
                conversation_id=conversation_id,
                user_id=user_id,
                direction="incoming",
                type=type,
                payload=payload,
                metadata=metadata,
                status="received",
                tags=tags,
            )
            await self.enqueue_in(session, conversation_id, "message", {"message_id": message.id})
            await self.notifier.in_transaction(session, WORK)
        self.notifier.local(WORK)
        return message

    async def emit(
        self,
        *,
        type: str,
        source: str,
        payload: Mapping[str, Any],
        conversation_id: str | None = None,
        user_id: str | None = None,
        dedupe: tuple[str, str] | None = None,
        effect_key: str | None = None,
    ) -> Event | None:
        """Record an event and queue it for the pipeline, in one transaction.

        A second emit with the same ``dedupe`` key, or of the same job step (``effect_key``),
        records nothing and returns None.
        """
        try:
            async with self.sessions.begin() as session:
                if dedupe is not None and not await self.remember_in(session, *dedupe):
                    return None
                event = await self.record_event(
                    session,
                    type=type,
                    source=source,
                    payload=payload,
                    conversation_id=conversation_id,
                    user_id=user_id,
                    effect_key=effect_key,
                )
                await self.enqueue_in(
                    session, conversation_id or AGENT_QUEUE, "event", {"event_id": event.id}
                )
                await self.notifier.in_transaction(session, WORK)
        except IntegrityError:
            if effect_key is not None and await self._emitted(effect_key):
                return None
            raise
        self.notifier.local(WORK)
        return event

    async def _emitted(self, effect_key: str) -> bool:
        async with self.sessions() as session:
            found = await session.scalar(
                select(EventRow.id).where(EventRow.effect_key == effect_key)
            )
            return found is not None

    async def get_event(self, event_id: str) -> Event | None:
        async with self.sessions() as session:
            row = await session.get(EventRow, event_id)
            return None if row is None else _event(row)


def _event(row: EventRow) -> Event:
    return Event(
        id=row.id,
        type=row.type,
        source=row.source,
        payload=row.payload,
        conversation_id=row.conversation_id,
        user_id=row.user_id,
        created_at=row.created_at,
    )


def _message_context_statement() -> Any:
    """A message joined with its conversation and author, as plain columns (no ORM loading),
    built once with a bound ``message_id``."""
    messages, conversations, users = (
        MessageRow.__table__,
        ConversationRow.__table__,
        UserRow.__table__,
    )
    return (
        select(
            *(column for column in messages.c if column.name != "metadata"),
            messages.c.metadata.label("meta"),
            conversations.c.integration.label("conversation_integration"),
            conversations.c.channel.label("conversation_channel"),
            conversations.c.created_at.label("conversation_created_at"),
            users.c.id.label("user_found"),
            users.c.integration.label("user_integration"),
            users.c.name.label("user_name"),
            users.c.picture_url.label("user_picture_url"),
            users.c.created_at.label("user_created_at"),
        )
        .select_from(
            messages.join(
                conversations, conversations.c.id == messages.c.conversation_id
            ).outerjoin(users, users.c.id == messages.c.user_id)
        )
        .where(messages.c.id == bindparam("message_id"))
    )


_MESSAGE_CONTEXT = _message_context_statement()
_TAGS = table(TagRow)
_TAGS_OF = select(_TAGS.c.kind, _TAGS.c.owner_id, _TAGS.c.key, _TAGS.c.value).where(
    _TAGS.c.owner_id.in_(bindparam("owners", expanding=True))
)
_TAGS_OF_KIND = select(_TAGS.c.owner_id, _TAGS.c.key, _TAGS.c.value).where(
    _TAGS.c.kind == bindparam("kind"), _TAGS.c.owner_id.in_(bindparam("owners", expanding=True))
)
_DELETE_TAGS = delete(_TAGS).where(
    _TAGS.c.kind == bindparam("kind"),
    _TAGS.c.owner_id == bindparam("owner"),
    _TAGS.c.key.in_(bindparam("keys", expanding=True)),
)
_INSERT_TAG = insert(_TAGS)
_INSERT_MESSAGE = insert(table(MessageRow))


def _next_sequence(*, outgoing: bool) -> Any:
    """Take a conversation's next sequence number; an outgoing message also joins its delivery
    queue when earlier ones wait (``undelivered`` counts it), all in one statement."""
    conversations = table(ConversationRow)
    counts: dict[str, Any] = {"next_sequence": conversations.c.next_sequence + 1}
    if outgoing:
        waiting = conversations.c.undelivered > 0
        counts["undelivered"] = case((waiting, conversations.c.undelivered + 1), else_=0)
    return (
        update(conversations)
        .where(conversations.c.id == bindparam("conversation"))
        .values(**counts, updated_at=bindparam("moment", type_=conversations.c.updated_at.type))
        .returning(conversations.c.next_sequence, conversations.c.undelivered)
    )


_NEXT_INCOMING = _next_sequence(outgoing=False)
_NEXT_OUTGOING = _next_sequence(outgoing=True)


def _tag_parameters(kind: str, tags: Mapping[str, str]) -> dict[str, Any]:
    if not tags:
        raise ValueError("find by tags needs at least one tag")
    parameters: dict[str, Any] = {"kind": kind}
    for number, (key, value) in enumerate(tags.items()):
        parameters[f"key_{number}"] = key
        parameters[f"value_{number}"] = str(value)
    return parameters


@functools.cache
def _owners_tagged(count: int) -> Any:
    """Owners of one kind carrying ``count`` given tags (``key_N``/``value_N``), built once per
    count so the hot path reuses the statement and its compiled form."""
    matching = or_(
        *(
            and_(_TAGS.c.key == bindparam(f"key_{n}"), _TAGS.c.value == bindparam(f"value_{n}"))
            for n in range(count)
        )
    )
    return (
        select(_TAGS.c.owner_id)
        .where(_TAGS.c.kind == bindparam("kind"), matching)
        .group_by(_TAGS.c.owner_id)
        .having(func.count() == count)
    )


@functools.cache
def _conversations_tagged(count: int) -> Any:
    """Conversations carrying ``count`` given tags (of ``integration`` unless it is None),
    each joined with all its tags (``tag_key``, ``tag_value``)."""
    conversations, every = table(ConversationRow), _TAGS.alias("every")
    owners = _owners_tagged(count).scalar_subquery()
    integration = bindparam("integration", type_=conversations.c.integration.type)
    return (
        select(
            conversations.c.id,
            conversations.c.integration,
            conversations.c.channel,
            conversations.c.created_at,
            every.c.key.label("tag_key"),
            every.c.value.label("tag_value"),
        )
        .select_from(
            conversations.join(
                every,
                and_(every.c.owner_id == conversations.c.id, every.c.kind == "conversation"),
            )
        )
        .where(
            conversations.c.id.in_(owners),
            or_(integration.is_(None), conversations.c.integration == integration),
        )
    )


def _state_key(scope: str, owner_id: str, namespace: str, name: str) -> tuple[Any, ...]:
    return (
        StateRow.scope == scope,
        StateRow.owner_id == owner_id,
        StateRow.namespace == namespace,
        StateRow.name == name,
    )


def _identity_key(kind: str, integration: str, tags: Mapping[str, str]) -> str:
    canonical = json.dumps([kind, integration, sorted(tags.items())], separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def _cursor_position(cursor: str) -> int:
    try:
        return int(cursor)
    except ValueError:
        raise ValueError(f"{cursor!r} is not a cursor this store issued") from None
