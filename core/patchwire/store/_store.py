"""The store facade: users, conversations, messages, tags, states and events.

Every method is one short transaction (``store/_transactions.py``): a synchronous body of Core
statements on the tables of ``store/_tables.py``; the ORM classes there declare the schema and
are not used to read or write rows. Nothing outside this package touches the database; the
runtime's ``Context`` is the only caller.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import logging
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal, TypeAlias, TypeVar

from sqlalchemy import (
    and_,
    bindparam,
    case,
    delete,
    exists,
    insert,
    or_,
    select,
    text,
    true,
    update,
)
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import FunctionElement

from patchwire._errors import AlreadyExistsError
from patchwire.store._engine import create_engine, migrate
from patchwire.store._notify import WORK, Notifier
from patchwire.store._prepared import Prepared
from patchwire.store._records import (
    Conversation,
    Direction,
    Event,
    Job,
    Message,
    MessagePage,
    Participant,
    User,
)
from patchwire.store._tables import (
    ConversationRow,
    EventRow,
    IdempotencyKeyRow,
    JobRow,
    MessageRow,
    ParticipantRow,
    StateRow,
    TagRow,
    UserRow,
    table,
)
from patchwire.store._work import (
    AGENT_QUEUE,
    JOB_COLUMNS,
    JOB_FIELDS,
    UNFINISHED,
    WorkQueue,
    job_from_row,
    new_job,
)

__all__ = ["NotFoundError", "StateScope", "Store", "TagKind"]

logger = logging.getLogger("patchwire.store")

TagKind: TypeAlias = Literal["user", "conversation", "message"]
StateScope: TypeAlias = Literal["conversation", "user", "agent"]
_T = TypeVar("_T")

_USERS = table(UserRow)
_CONVERSATIONS = table(ConversationRow)
_MESSAGES = table(MessageRow)
_TAGS = table(TagRow)
_STATES = table(StateRow)
_EVENTS = table(EventRow)
_KEYS = table(IdempotencyKeyRow)
_JOBS = table(JobRow)
_PARTICIPANTS = table(ParticipantRow)


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
        super().__init__(engine, Notifier(engine))

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
        await self._read(lambda connection: connection.execute(text("SELECT 1")))

    # --- tags ------------------------------------------------------------------------------

    def _tags(
        self, connection: Connection, kind: TagKind, owner_ids: Sequence[str]
    ) -> dict[str, dict[str, str]]:
        found: dict[str, dict[str, str]] = {owner: {} for owner in owner_ids}
        if owner_ids:
            rows = connection.execute(_TAGS_OF_KIND, {"kind": kind, "owners": list(owner_ids)})
            for owner, key, value in rows:
                found[owner][key] = value
        return found

    def _set_tags(
        self,
        connection: Connection,
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
            connection.execute(_DELETE_TAGS, {"kind": kind, "owner": owner_id, "keys": list(tags)})
        connection.execute(
            _INSERT_TAG,
            [
                {"kind": kind, "owner_id": owner_id, "key": key, "value": str(value)}
                for key, value in tags.items()
            ],
        )

    def _find_by_tags(
        self, connection: Connection, kind: TagKind, tags: Mapping[str, str]
    ) -> list[str]:
        """Owners carrying every given tag: one query over the ``(kind, key, value)`` index."""
        found = _owner_ids_tagged(len(tags)).execute(connection, _tag_parameters(kind, tags))
        return [row[0] for row in found.rows]

    # --- users -----------------------------------------------------------------------------

    def _user(self, row: Any, tags: Mapping[str, str]) -> User:
        return User(
            id=row.id,
            integration=row.integration,
            name=row.name,
            picture_url=row.picture_url,
            tags=tags,
            created_at=row.created_at,
        )

    def _user_in(self, connection: Connection, user_id: str) -> User | None:
        found = _USER_WITH_TAGS.execute(connection, {"id": user_id})
        return next(iter(_with_tags(found.rows, self._user)), None)

    async def get_user(self, user_id: str) -> User | None:
        return await self._read(lambda connection: self._user_in(connection, user_id))

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
        moment = now()
        user = User(
            id=new_id(),
            integration=integration,
            name=name,
            picture_url=picture_url,
            tags=every,
            created_at=moment,
        )

        def body(connection: Connection) -> User:
            connection.execute(
                insert(_USERS).values(
                    id=user.id,
                    integration=integration,
                    name=name,
                    picture_url=picture_url,
                    created_at=moment,
                    updated_at=moment,
                )
            )
            self._set_tags(connection, "user", user.id, every, new=True)
            return user

        return await self._identified("user", integration, identity, body)

    async def _identified(
        self,
        kind: str,
        integration: str,
        identity: Mapping[str, str] | None,
        body: Callable[[Connection], _T],
    ) -> _T:
        """``body`` in a transaction that first claims ``identity`` (when given) for the record
        it creates; a claim another record holds is :class:`AlreadyExistsError`.

        The claim is an idempotency key (``INSERT ... ON CONFLICT DO NOTHING``): a lost race
        inserts nothing, and the transaction is rolled back, rather than failing a statement,
        which PostgreSQL would log as an error for its operator to read."""

        def claimed(connection: Connection) -> _T:
            if identity:
                guard = _identity_key(kind, integration, identity)
                if not self.remember_in(connection, "identity", guard):
                    raise AlreadyExistsError(kind, dict(identity))
            return body(connection)

        return await self._write(claimed)

    async def update_user(
        self,
        user_id: str,
        *,
        name: str | None = None,
        picture_url: str | None = None,
        tags: Mapping[str, str] | None = None,
    ) -> User:
        """Change the given fields; ``tags`` are merged over the existing ones."""
        changes: dict[str, Any] = {"updated_at": now()}
        if name is not None:
            changes["name"] = name
        if picture_url is not None:
            changes["picture_url"] = picture_url

        def body(connection: Connection) -> User:
            changed = connection.execute(
                update(_USERS).where(_USERS.c.id == user_id).values(**changes)
            )
            if not changed.rowcount:
                raise NotFoundError("user", user_id)
            self._set_tags(connection, "user", user_id, tags or {})
            found = self._user_in(connection, user_id)
            assert found is not None
            return found

        return await self._write(body)

    async def find_users(self, tags: Mapping[str, str]) -> list[User]:
        """Users carrying all ``tags``: one statement, each found user joined with its tags."""
        statement, parameters = _users_tagged(len(tags)), _tag_parameters("user", tags)
        return await self._read(
            lambda connection: _with_tags(
                statement.execute(connection, parameters).rows, self._user
            )
        )

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

    def _conversation(self, row: Any, tags: Mapping[str, str]) -> Conversation:
        return Conversation(
            id=row.id,
            integration=row.integration,
            channel=row.channel,
            tags=tags,
            created_at=row.created_at,
        )

    def _conversation_in(self, connection: Connection, conversation_id: str) -> Conversation | None:
        found = _CONVERSATION_WITH_TAGS.execute(connection, {"id": conversation_id})
        return next(iter(_with_tags(found.rows, self._conversation)), None)

    async def get_conversation(self, conversation_id: str) -> Conversation | None:
        return await self._read(
            lambda connection: self._conversation_in(connection, conversation_id)
        )

    async def conversation_place(self, conversation_id: str) -> tuple[str, str] | None:
        """A conversation's integration alias and channel, without its tags."""
        statement = select(_CONVERSATIONS.c.integration, _CONVERSATIONS.c.channel).where(
            _CONVERSATIONS.c.id == conversation_id
        )
        found = await self._read(lambda connection: connection.execute(statement).first())
        return None if found is None else (found[0], found[1])

    async def create_conversation(
        self,
        *,
        integration: str,
        channel: str,
        tags: Mapping[str, str] | None = None,
        identity: Mapping[str, str] | None = None,
        participants: Sequence[str] = (),
    ) -> Conversation:
        """A new conversation; ``identity`` tags work as for :meth:`create_user`.

        ``participants`` (user ids) join it in the same transaction: a crash cannot leave a
        conversation without the creator who must take part in it. A missing user raises
        :class:`NotFoundError` and nothing is created."""
        every = {**(tags or {}), **(identity or {})}
        moment = now()
        conversation = Conversation(
            id=new_id(), integration=integration, channel=channel, tags=every, created_at=moment
        )

        def body(connection: Connection) -> Conversation:
            connection.execute(
                insert(_CONVERSATIONS).values(
                    id=conversation.id,
                    integration=integration,
                    channel=channel,
                    next_sequence=1,
                    created_at=moment,
                    updated_at=moment,
                )
            )
            self._set_tags(connection, "conversation", conversation.id, every, new=True)
            for user_id in participants:
                joined = {"conversation": conversation.id, "user": user_id, "at": moment}
                if not _JOIN[connection.dialect.name].execute(connection, joined).rowcount:
                    raise NotFoundError("user", user_id)
            return conversation

        return await self._identified("conversation", integration, identity, body)

    async def update_conversation(
        self, conversation_id: str, *, tags: Mapping[str, str]
    ) -> Conversation:
        def body(connection: Connection) -> Conversation:
            changed = connection.execute(
                update(_CONVERSATIONS)
                .where(_CONVERSATIONS.c.id == conversation_id)
                .values(updated_at=now())
            )
            if not changed.rowcount:
                raise NotFoundError("conversation", conversation_id)
            self._set_tags(connection, "conversation", conversation_id, tags)
            found = self._conversation_in(connection, conversation_id)
            assert found is not None
            return found

        return await self._write(body)

    async def find_conversations(
        self, tags: Mapping[str, str], *, integration: str | None = None
    ) -> list[Conversation]:
        """Conversations carrying all ``tags``; only ``integration``'s when it is given.

        One statement: the matching conversations joined with all their tags.
        """
        parameters = _tag_parameters("conversation", tags)
        parameters["integration"] = integration
        statement = _conversations_tagged(len(tags))
        return await self._read(
            lambda connection: _with_tags(
                statement.execute(connection, parameters).rows, self._conversation
            )
        )

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

    # --- participants ----------------------------------------------------------------------

    async def add_participant(self, conversation_id: str, user_id: str) -> bool:
        """Make the user take part in the conversation; False when they did already.

        One ``INSERT ... SELECT ... ON CONFLICT DO NOTHING``: concurrent joins make one row, and
        a missing conversation or user inserts nothing (then :class:`NotFoundError`).
        """
        values = {"conversation": conversation_id, "user": user_id, "at": now()}

        def body(connection: Connection) -> bool:
            if _JOIN[connection.dialect.name].execute(connection, values).rowcount:
                return True
            for kind in ("conversation", "user"):
                record_id = str(values[kind])
                if _EXISTS[kind].execute(connection, {"id": record_id}).first() is None:
                    raise NotFoundError(kind, record_id)
            return False

        return await self._write_one(body)

    async def remove_participant(self, conversation_id: str, user_id: str) -> bool:
        """The user no longer takes part; False when they did not."""
        values = {"conversation": conversation_id, "user": user_id}
        return await self._write_one(
            lambda connection: bool(_LEAVE.execute(connection, values).rowcount)
        )

    async def list_participants(self, conversation_id: str) -> list[str]:
        """The ids of the conversation's participants, in the order they joined."""
        found = await self._read(
            lambda connection: _PARTICIPANT_IDS.execute(connection, {"id": conversation_id})
        )
        return [row.user_id for row in found.rows]

    async def list_participations(self, user_id: str) -> list[str]:
        """The ids of the conversations the user takes part in, in the order they joined."""
        found = await self._read(
            lambda connection: _PARTICIPATION_IDS.execute(connection, {"id": user_id})
        )
        return [row.conversation_id for row in found.rows]

    async def find_participant(
        self,
        *,
        conversation_tags: Mapping[str, str],
        user_tags: Mapping[str, str],
        integration: str | None = None,
    ) -> Participant | None:
        """The conversation carrying ``conversation_tags`` (``integration``'s, when given) with
        a participant carrying ``user_tags``, both with all their tags; None when either is
        missing or the user does not take part.

        One statement: what a request by a user about a conversation checks first (a chat
        message, a listener) costs one read, not one per record.
        """
        parameters = {
            **_tag_parameters("conversation", conversation_tags, "conversation_"),
            **_tag_parameters("user", user_tags, "user_"),
            "integration": integration,
        }
        statement = _participant_tagged(len(conversation_tags), len(user_tags))
        found = await self._read(lambda connection: statement.execute(connection, parameters))
        return _participant(found.rows)

    # --- messages --------------------------------------------------------------------------

    def _message(self, row: Any, tags: Mapping[str, str]) -> Message:
        """A message record from a row of ``_MESSAGE_COLUMNS`` (its metadata labelled ``meta``)."""
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

    def _messages(self, connection: Connection, query: Any) -> list[Message]:
        """The messages a ``select(*_MESSAGE_COLUMNS)`` query finds, with their tags."""
        rows = connection.execute(query).all()
        tags = self._tags(connection, "message", [row.id for row in rows])
        return [self._message(row, tags[row.id]) for row in rows]

    def insert_message(
        self,
        connection: Connection,
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
        queued: bool = False,
        remembered: tuple[str, str] | None = None,
        claim_for: tuple[str, timedelta] | None = None,
    ) -> tuple[Message, Job | None]:
        """Insert in the caller's transaction, taking the conversation's next sequence number.

        An outgoing message of a conversation whose earlier messages wait for a retry gets
        status ``queued`` and joins them (one statement reads and counts it), so a
        conversation's messages go out in order even while its outside system is down. With
        ``queued``, the message's job is queued too; with ``remembered=(scope, key)``, the
        key is remembered and a key seen before stores nothing (``_Repeated``). On PostgreSQL
        all of it is one statement (``_numbered_insert``), which with ``claim_for=(owner,
        lease)`` also leases the job when its conversation is free (``_claiming_receive``):
        the job is returned then, with its message, conversation and author.
        """
        outgoing = direction == "outgoing"
        message_id, body = new_id(), dict(payload)
        extra = dict(metadata) if metadata is not None else None
        row: dict[str, Any] = {
            "id": message_id,
            "conversation_id": conversation_id,
            "user_id": user_id,
            "direction": direction,
            "type": type,
            "payload": body,
            "metadata": extra,
            "status": status,
            "effect_key": effect_key,
        }
        moment = now()
        numbering = {"conversation": conversation_id, "moment": moment}
        job = new_job(conversation_id, "message", {"message_id": message_id}) if queued else {}
        claims = claim_for is not None and queued
        claiming: Sequence[Any] = ()  # the claiming statement's rows
        if connection.dialect.name == "postgresql":  # one round trip instead of up to four
            parameters = {**row, **numbering, **{f"job_{name}": job[name] for name in job}}
            if remembered is not None:
                parameters.update(key_scope=remembered[0], key_key=remembered[1], key_at=now())
            if claims:
                assert claim_for is not None
                owner, lease = claim_for
                parameters.update(owner=owner, until=moment + lease)
                statement = _CLAIMING_RECEIVE[remembered is not None]
            else:
                statement = _NUMBERED_INSERT[outgoing, queued, remembered is not None]
            rows = statement.execute(connection, parameters).rows
            if not rows:
                if remembered is not None and _conversation_exists(connection, conversation_id):
                    raise _Repeated
                raise NotFoundError("conversation", conversation_id)
            if claims:
                claiming = rows
            sequence, status, created_at = rows[0][:3]
        else:
            if remembered is not None and not self.remember_in(connection, *remembered):
                raise _Repeated
            numbers = (_NEXT_OUTGOING if outgoing else _NEXT_INCOMING).execute(
                connection, numbering
            )
            first = numbers.first()
            if first is None:
                raise NotFoundError("conversation", conversation_id)
            next_sequence, undelivered, created_at = first
            sequence = next_sequence - 1
            if outgoing and undelivered:
                status = "queued"
            values = {**row, "sequence": sequence, "status": status, "created_at": created_at}
            _INSERT_MESSAGE.execute(connection, values)
            if job:
                self.enqueue_in(connection, job)
        message = Message(
            id=message_id,
            conversation_id=conversation_id,
            user_id=user_id,
            sequence=sequence,
            direction=direction,
            type=type,
            payload=body,
            metadata=extra,
            status=status,
            tags=dict(tags or {}),
            created_at=created_at,
        )
        self._set_tags(connection, "message", message.id, message.tags, new=True)
        if not claiming or claiming[0].job_leased_by is None:
            return message, None
        conversation, user = _conversation_and_user(claiming[0], _tags_by_kind(claiming))
        claimed = job_from_row(claiming[0], prefix="job_")
        return message, dataclasses.replace(claimed, subject=(message, conversation, user))

    # --- outgoing delivery -----------------------------------------------------------------

    def _stored_in_one(self, tags: Mapping[str, str] | None) -> bool:
        """Whether ``insert_message`` stores a message in one statement (PostgreSQL, no tags),
        so that storing it needs no transaction around it."""
        return self.backend == "postgresql" and not tags

    async def create_outgoing(self, **fields: Any) -> Message:
        """Store an outgoing message: ``sending``, or ``queued`` behind undelivered ones."""
        write = self._write_one if self._stored_in_one(fields.get("tags")) else self._write
        return await write(
            lambda connection: self.insert_message(
                connection, direction="outgoing", status="sending", **fields
            )[0]
        )

    async def outgoing_by_effect(self, effect_key: str) -> Message | None:
        """The message a job's step sent in an earlier run, if it got that far."""
        query = select(*_MESSAGE_COLUMNS).where(_MESSAGES.c.effect_key == effect_key)
        found = await self._read(lambda connection: self._messages(connection, query))
        return found[0] if found else None

    async def defer_delivery(self, message: Message, error: str, *, retry_at: datetime) -> None:
        """Queue a message whose delivery failed for now; the first one queues a ``deliver`` job.

        That job runs in the conversation's own queue, so later work of the conversation waits
        for it, and it delivers the queued messages in sequence order.
        """

        def body(connection: Connection) -> None:
            connection.execute(
                update(_MESSAGES).where(_MESSAGES.c.id == message.id).values(status="queued")
            )
            undelivered = connection.scalar(
                update(_CONVERSATIONS)
                .where(_CONVERSATIONS.c.id == message.conversation_id)
                .values(undelivered=_CONVERSATIONS.c.undelivered + 1)
                .returning(_CONVERSATIONS.c.undelivered)
            )
            if undelivered == 1:
                job = new_job(
                    message.conversation_id,
                    "deliver",
                    {},
                    available_at=retry_at,
                    last_error=error,
                    failing_since=now(),
                )
                self.enqueue_in(connection, job)
                self.notifier.in_transaction(connection, WORK, retry_at.isoformat())

        await self._write(body)
        self.notifier.local(WORK, retry_at.isoformat())

    async def queued_messages(self, conversation_id: str, *, limit: int = 20) -> list[Message]:
        """The conversation's messages waiting for delivery, oldest first."""
        query = (
            select(*_MESSAGE_COLUMNS)
            .where(_MESSAGES.c.conversation_id == conversation_id, _MESSAGES.c.status == "queued")
            .order_by(_MESSAGES.c.sequence)
            .limit(limit)
        )
        return await self._read(lambda connection: self._messages(connection, query))

    async def settle_delivery(self, message: Message, *, error: str | None = None) -> None:
        """A queued message went out (``error`` None) or never will: it leaves the queue.

        One that never will is ``failed`` and also kept as a failed ``deliver`` job naming it,
        which is what an operator sees (``patchwire jobs``) and can retry.
        """

        def body(connection: Connection) -> None:
            connection.execute(
                update(_MESSAGES)
                .where(_MESSAGES.c.id == message.id)
                .values(status="sent" if error is None else "failed")
            )
            connection.execute(
                update(_CONVERSATIONS)
                .where(_CONVERSATIONS.c.id == message.conversation_id)
                .values(undelivered=_CONVERSATIONS.c.undelivered - 1)
            )
            if error is not None:
                failed = new_job(
                    message.conversation_id,
                    "deliver",
                    {"message_id": message.id},
                    status="failed",
                    last_error=error,
                    failing_since=message.created_at,
                )
                self.enqueue_in(connection, failed)

        await self._write(body)

    async def requeue(self, message_id: str) -> bool:
        """Queue a failed outgoing message for delivery again (an operator's retry)."""

        def body(connection: Connection) -> bool:
            conversation_id = connection.scalar(
                update(_MESSAGES)
                .where(_MESSAGES.c.id == message_id, _MESSAGES.c.status == "failed")
                .values(status="queued")
                .returning(_MESSAGES.c.conversation_id)
            )
            if conversation_id is None:
                return False
            connection.execute(
                update(_CONVERSATIONS)
                .where(_CONVERSATIONS.c.id == conversation_id)
                .values(undelivered=_CONVERSATIONS.c.undelivered + 1)
            )
            return True

        return await self._write(body)

    async def create_message(self, **fields: Any) -> Message:
        return await self._write(lambda connection: self.insert_message(connection, **fields)[0])

    def _message_in(self, connection: Connection, message_id: str) -> Message | None:
        found = self._messages(
            connection, select(*_MESSAGE_COLUMNS).where(_MESSAGES.c.id == message_id)
        )
        return found[0] if found else None

    async def get_message(self, message_id: str) -> Message | None:
        return await self._read(lambda connection: self._message_in(connection, message_id))

    async def update_message(
        self, message_id: str, *, status: str | None = None, tags: Mapping[str, str] | None = None
    ) -> Message:
        def body(connection: Connection) -> Message:
            if status is not None:
                connection.execute(
                    update(_MESSAGES).where(_MESSAGES.c.id == message_id).values(status=status)
                )
            found = self._message_in(connection, message_id)
            if found is None:
                raise NotFoundError("message", message_id)
            self._set_tags(connection, "message", message_id, tags or {})
            return dataclasses.replace(found, tags={**found.tags, **(tags or {})})

        return await self._write(body)

    async def set_message_status(self, message_id: str, status: str) -> None:
        statement = update(_MESSAGES).where(_MESSAGES.c.id == message_id).values(status=status)
        await self._write(lambda connection: connection.execute(statement))

    async def message_context(
        self, message_id: str
    ) -> tuple[Message, Conversation, User | None] | None:
        """A message with its conversation and author: one joined read, then their tags."""
        return await self._read(lambda connection: self._message_context_in(connection, message_id))

    def _with_subject(self, connection: Connection, job: Job) -> Job:
        if job.kind != "message" or "message_id" not in job.payload:
            return job
        subject = self._message_context_in(connection, str(job.payload["message_id"]))
        return dataclasses.replace(job, subject=subject)

    def _claimed(
        self, connection: Connection, statement: Prepared, parameters: Mapping[str, Any]
    ) -> Job | None:
        """On PostgreSQL the claim and its message job's context are one statement
        (``_claim_with_context``): a round trip less per job."""
        if connection.dialect.name != "postgresql":
            return super()._claimed(connection, statement, parameters)
        rows = _claim_with_context(statement).execute(connection, parameters).rows
        if not rows:
            return None
        first = rows[0]
        job = job_from_row(first, prefix="job_")
        if job.kind == "message" and first.id is not None:
            job = dataclasses.replace(job, subject=self._message_context(rows))
        return job

    def _message_context_in(
        self, connection: Connection, message_id: str
    ) -> tuple[Message, Conversation, User | None] | None:
        rows = _MESSAGE_CONTEXT.execute(connection, {"message_id": message_id}).rows
        return self._message_context(rows) if rows else None

    def _message_context(self, rows: Sequence[Any]) -> tuple[Message, Conversation, User | None]:
        """A message with its conversation and author from ``_message_context_statement``'s
        rows (one per tag of the three)."""
        tags = _tags_by_kind(rows)
        row = rows[0]
        message = self._message(row, tags.get("message", {}))
        conversation, user = _conversation_and_user(row, tags)
        return message, conversation, user

    async def find_messages(self, tags: Mapping[str, str]) -> list[Message]:
        def body(connection: Connection) -> list[Message]:
            ids = self._find_by_tags(connection, "message", tags)
            return self._messages(
                connection, select(*_MESSAGE_COLUMNS).where(_MESSAGES.c.id.in_(ids))
            )

        return await self._read(body)

    async def list_messages(
        self,
        conversation_id: str,
        *,
        limit: int = 50,
        cursor: str | None = None,
        newest_first: bool = True,
    ) -> MessagePage:
        """One page of a conversation's messages; ``next_cursor`` continues it."""
        query = select(*_MESSAGE_COLUMNS).where(_MESSAGES.c.conversation_id == conversation_id)
        if cursor is not None:
            position = _cursor_position(cursor)
            query = query.where(
                _MESSAGES.c.sequence < position if newest_first else _MESSAGES.c.sequence > position
            )
        order = _MESSAGES.c.sequence.desc() if newest_first else _MESSAGES.c.sequence.asc()
        found = await self._read(
            lambda connection: self._messages(connection, query.order_by(order).limit(limit + 1))
        )
        page = found[:limit]
        next_cursor = str(page[-1].sequence) if len(found) > limit else None
        return MessagePage(page, next_cursor)

    # --- states ----------------------------------------------------------------------------

    async def get_state(
        self, scope: StateScope, owner_id: str, namespace: str, name: str
    ) -> Any | None:
        key = _state_key(scope, owner_id, namespace, name)
        value = await self._read(lambda connection: _GET_STATE.execute(connection, key).scalar())
        return None if value is None else value["value"]

    async def set_state(
        self, scope: StateScope, owner_id: str, namespace: str, name: str, value: Any
    ) -> None:
        """Create or replace a state (any JSON value)."""
        await self.update_state(scope, owner_id, namespace, name, lambda _current: value)

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

        def body(connection: Connection) -> Any | None:
            current = _LOCK_STATE.execute(connection, key).scalar()
            value = change(None if current is None else current["value"])
            if current is not None and value == current["value"]:
                return value  # a change that changes nothing writes nothing
            if value is None:
                if current is not None:
                    _DELETE_STATE.execute(connection, key)
            else:
                written = {**key, "value": {"value": value}, "updated_at": now()}
                (_INSERT_STATE if current is None else _UPDATE_STATE).execute(connection, written)
            return value

        for _ in range(3):
            try:
                return await self._write(body)
            except IntegrityError:
                continue
        raise RuntimeError(f"state {namespace}/{name} kept changing while it was being updated")

    async def delete_state(
        self, scope: StateScope, owner_id: str, namespace: str, name: str
    ) -> None:
        key = _state_key(scope, owner_id, namespace, name)
        await self._write(lambda connection: _DELETE_STATE.execute(connection, key))

    # --- events ----------------------------------------------------------------------------

    def record_event_in(
        self,
        connection: Connection,
        *,
        type: str,
        source: str,
        payload: Mapping[str, Any],
        conversation_id: str | None = None,
        user_id: str | None = None,
        effect_key: str | None = None,
    ) -> Event:
        """Record an event in the caller's transaction (no job: nothing reacts to it)."""
        event = Event(
            id=new_id(),
            type=type,
            source=source,
            payload=dict(payload),
            conversation_id=conversation_id,
            user_id=user_id,
            created_at=now(),
        )
        connection.execute(
            insert(_EVENTS).values(
                id=event.id,
                type=type,
                source=source,
                payload=event.payload,
                conversation_id=conversation_id,
                user_id=user_id,
                effect_key=effect_key,
                created_at=event.created_at,
            )
        )
        return event

    async def record_event(self, **fields: Any) -> Event:
        """Record an event in a transaction of its own (see :meth:`record_event_in`)."""
        return await self._write(lambda connection: self.record_event_in(connection, **fields))

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
        claim_for: tuple[str, timedelta] | None = None,
        claimed: Callable[[Job], None] | None = None,
        unclaimed: Callable[[], None] | None = None,
    ) -> Message | None:
        """Store an incoming message and queue its job, atomically.

        With ``dedupe=(scope, key)`` a second delivery of the same key stores nothing and
        returns None. With ``claim_for=(owner, lease)`` the conversation's next runnable job
        (usually this message's; an older one first) is claimed right after and goes to
        ``claimed`` instead of announcing the work: no wake-up, no claim of a worker's own. A
        job left unclaimed is announced (to other processes, then here), or, with
        ``unclaimed``, handed to that callback once stored: for a caller that knows who will
        claim it (then PostgreSQL tries no claim).

        On SQLite one transaction stores, remembers, queues and claims. On PostgreSQL, where
        each statement is a round trip, one statement stores, numbers, remembers, queues and,
        when the conversation is free, leases the job (``_claiming_receive``), with no
        transaction around it: 1 round trip instead of 5. A conversation that is not free
        (its earlier job still runs, or another of its messages was stored while this one
        waited for the row lock) gets the claim as before, in a second statement: the
        conversation's next runnable job, if any. Between the two another worker may claim
        first (ours then claims nothing, as in any race); if this process dies between them,
        the job waits unannounced until another process looks (``Runtime`` re-checks at least
        every ``RECHECK_SECONDS``), as a job the receiving transaction claimed waits for its
        lease to run out.
        """
        if claim_for is not None and claimed is None:
            raise ValueError("claim_for needs claimed: a claimed job must be handed to a worker")

        def store(
            connection: Connection, claim: tuple[str, timedelta] | None = None
        ) -> tuple[Message | None, Job | None]:
            try:
                return self.insert_message(
                    connection,
                    conversation_id=conversation_id,
                    user_id=user_id,
                    direction="incoming",
                    type=type,
                    payload=payload,
                    metadata=metadata,
                    status="received",
                    tags=tags,
                    queued=True,
                    remembered=dedupe,
                    claim_for=claim,
                )
            except _Repeated:
                return None, None

        if self._stored_in_one(tags):
            claim = claim_for if unclaimed is None else None
            message, job = await self._write_one(lambda connection: store(connection, claim))
            if message is None:
                return None
            if job is not None:
                assert claimed is not None
                claimed(job)
            elif unclaimed is not None:
                unclaimed()
            elif claim_for is None or not await self._claim_received(
                conversation_id, claim_for, claimed
            ):
                await self._announce(WORK)
            return message

        def body(connection: Connection) -> tuple[Message | None, Job | None]:
            message, _ = store(connection)
            if message is None:
                return None, None
            job = None
            if claim_for is not None:
                owner, lease = claim_for
                job = self._claim_in(connection, owner, lease, conversation_id)
            if job is None and unclaimed is None:
                self.notifier.in_transaction(connection, WORK)
            return message, job

        message, job = await self._write(body)
        if job is not None:
            assert claimed is not None
            claimed(job)
        elif message is not None:
            if unclaimed is not None:
                unclaimed()
            else:
                self.notifier.local(WORK)
        return message

    async def _claim_received(
        self,
        conversation_id: str,
        claim_for: tuple[str, timedelta],
        claimed: Callable[[Job], None] | None,
    ) -> bool:
        """Claim the conversation's next job after storing a message in it; True when one was
        claimed (and handed to ``claimed``). The message is stored whatever happens here: a
        failed claim is logged and the work announced instead, so the caller does not answer
        an error that makes its sender deliver the message again."""
        owner, lease = claim_for
        try:
            job = await self._write_one(
                lambda connection: self._claim_in(connection, owner, lease, conversation_id)
            )
        except SQLAlchemyError:
            logger.warning("claiming a received message's job failed; announcing it", exc_info=True)
            return False
        if job is None:
            return False
        assert claimed is not None
        claimed(job)
        return True

    async def _announce(self, channel: str) -> None:
        """Tell this process and the others of work stored without a transaction to notify at
        its commit. A failed ``NOTIFY`` is logged: the others find the work at their next look."""
        try:
            await self.notifier.publish(channel, "")
        except (SQLAlchemyError, OSError):
            logger.warning("announcing stored work to other processes failed", exc_info=True)

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

        def body(connection: Connection) -> Event | None:
            if dedupe is not None and not self.remember_in(connection, *dedupe):
                return None
            event = self.record_event_in(
                connection,
                type=type,
                source=source,
                payload=payload,
                conversation_id=conversation_id,
                user_id=user_id,
                effect_key=effect_key,
            )
            queue = conversation_id or AGENT_QUEUE
            self.enqueue_in(connection, new_job(queue, "event", {"event_id": event.id}))
            self.notifier.in_transaction(connection, WORK)
            return event

        try:
            event = await self._write(body)
        except IntegrityError:
            if effect_key is not None and await self._emitted(effect_key):
                return None
            raise
        if event is not None:
            self.notifier.local(WORK)
        return event

    async def _emitted(self, effect_key: str) -> bool:
        statement = select(_EVENTS.c.id).where(_EVENTS.c.effect_key == effect_key)
        return await self._read(lambda connection: connection.scalar(statement)) is not None

    async def get_event(self, event_id: str) -> Event | None:
        statement = select(_EVENTS).where(_EVENTS.c.id == event_id)
        row = await self._read(lambda connection: connection.execute(statement).first())
        return None if row is None else _event(row)


def _event(row: Any) -> Event:
    return Event(
        id=row.id,
        type=row.type,
        source=row.source,
        payload=row.payload,
        conversation_id=row.conversation_id,
        user_id=row.user_id,
        created_at=row.created_at,
    )


_MESSAGE_COLUMNS = (
    *(column for column in _MESSAGES.c if column.name != "metadata"),
    _MESSAGES.c.metadata.label("meta"),
)
"""A message row's columns, its ``metadata`` column labelled ``meta`` as records call it."""


_CONVERSATION_AND_USER_COLUMNS = (
    _CONVERSATIONS.c.integration.label("conversation_integration"),
    _CONVERSATIONS.c.channel.label("conversation_channel"),
    _CONVERSATIONS.c.created_at.label("conversation_created_at"),
    _USERS.c.id.label("user_found"),
    _USERS.c.integration.label("user_integration"),
    _USERS.c.name.label("user_name"),
    _USERS.c.picture_url.label("user_picture_url"),
    _USERS.c.created_at.label("user_created_at"),
)
"""A conversation's and a user's columns as ``_conversation_and_user`` reads them (with the
conversation's id as ``conversation_id``)."""


def _tags_by_kind(rows: Iterable[Any]) -> dict[str | None, dict[str, str]]:
    """Tags from rows with ``tag_kind``, ``tag_key`` and ``tag_value`` (None: no tag)."""
    tags: dict[str | None, dict[str, str]] = {}
    for row in rows:
        if row.tag_kind is not None:
            tags.setdefault(row.tag_kind, {})[row.tag_key] = row.tag_value
    return tags


def _conversation_and_user(
    row: Any, tags: Mapping[str | None, Mapping[str, str]]
) -> tuple[Conversation, User | None]:
    """The records in a row of ``_CONVERSATION_AND_USER_COLUMNS``, with their tags by kind."""
    conversation = Conversation(
        id=row.conversation_id,
        integration=row.conversation_integration,
        channel=row.conversation_channel,
        tags=tags.get("conversation", {}),
        created_at=row.conversation_created_at,
    )
    if not row.user_found:
        return conversation, None
    user = User(
        id=row.user_found,
        integration=row.user_integration,
        name=row.user_name,
        picture_url=row.user_picture_url,
        tags=tags.get("user", {}),
        created_at=row.user_created_at,
    )
    return conversation, user


def _message_context_statement(claimed: Any = None) -> Any:
    """A message joined with its conversation, its author and the tags of all three (one row
    per tag, at least one row), as plain columns, built once with a bound ``message_id``.

    With ``claimed`` (a claiming ``UPDATE jobs ... RETURNING`` as a CTE), the message is the
    claimed job's (``payload ->> 'message_id'``, PostgreSQL), and the rows also carry the job's
    columns as ``job_<column>``: one row with the message's columns empty for a job of another
    kind, none when nothing was claimed."""
    tags = _TAGS.alias("owned")
    owned = or_(
        and_(tags.c.kind == "message", tags.c.owner_id == _MESSAGES.c.id),
        and_(tags.c.kind == "conversation", tags.c.owner_id == _MESSAGES.c.conversation_id),
        and_(tags.c.kind == "user", tags.c.owner_id == _MESSAGES.c.user_id),
    )
    context = select(
        *_MESSAGE_COLUMNS,
        *_CONVERSATION_AND_USER_COLUMNS,
        tags.c.kind.label("tag_kind"),
        tags.c.key.label("tag_key"),
        tags.c.value.label("tag_value"),
    )
    joined = (
        _MESSAGES.join(_CONVERSATIONS, _CONVERSATIONS.c.id == _MESSAGES.c.conversation_id)
        .outerjoin(_USERS, _USERS.c.id == _MESSAGES.c.user_id)
        .outerjoin(tags, owned)
    )
    if claimed is None:
        return context.select_from(joined).where(_MESSAGES.c.id == bindparam("message_id"))
    subject = _MESSAGES.c.id == claimed.c.payload["message_id"].as_string()
    job = [claimed.c[column.key].label(f"job_{column.key}") for column in JOB_COLUMNS]
    return context.add_columns(*job).select_from(claimed.outerjoin(joined, subject))


_MESSAGE_CONTEXT = Prepared(_message_context_statement())


@functools.cache
def _claim_with_context(claim: Prepared) -> Prepared:
    """A claiming statement and its message job's context as one (PostgreSQL only: SQLite has
    no ``UPDATE`` inside ``WITH``)."""
    claiming: Any = claim.statement
    return Prepared(_message_context_statement(claiming.cte("claimed")))


_TAGS_OF_KIND = select(_TAGS.c.owner_id, _TAGS.c.key, _TAGS.c.value).where(
    _TAGS.c.kind == bindparam("kind"), _TAGS.c.owner_id.in_(bindparam("owners", expanding=True))
)
_DELETE_TAGS = delete(_TAGS).where(
    _TAGS.c.kind == bindparam("kind"),
    _TAGS.c.owner_id == bindparam("owner"),
    _TAGS.c.key.in_(bindparam("keys", expanding=True)),
)
_INSERT_TAG = insert(_TAGS)
_INSERTED_FIELDS = (
    "id",
    "conversation_id",
    "user_id",
    "sequence",
    "direction",
    "type",
    "payload",
    "metadata",
    "status",
    "effect_key",
    "created_at",
)
_INSERT_MESSAGE = Prepared(insert(_MESSAGES), columns=_INSERTED_FIELDS)
"""A message as ``insert_message`` stores it (SQLite; ``_NUMBERED_INSERT`` on PostgreSQL)."""


class _MillisecondAfter(FunctionElement[datetime]):
    """A timestamp column plus one millisecond, in each backend's own date arithmetic."""

    inherit_cache = True
    type = _CONVERSATIONS.c.updated_at.type


@compiles(_MillisecondAfter, "sqlite")
def _millisecond_after_sqlite(element: _MillisecondAfter, compiler: Any, **kw: Any) -> str:
    # the text form SQLAlchemy stores, at millisecond precision (it parses 1 to 6 digits)
    column = compiler.process(element.clauses, **kw)
    return f"strftime('%Y-%m-%d %H:%M:%f', {column}, '+0.001 seconds')"


@compiles(_MillisecondAfter, "postgresql")
def _millisecond_after_postgresql(element: _MillisecondAfter, compiler: Any, **kw: Any) -> str:
    return f"({compiler.process(element.clauses, **kw)} + interval '1 millisecond')"


def _next_sequence(*, outgoing: bool) -> Any:
    """Take a conversation's next sequence number and the new message's time; an outgoing
    message also joins its delivery queue when earlier ones wait (``undelivered`` counts it),
    all in one statement.

    The time is now, or one millisecond after the conversation's last change when that is
    later: a reply stored within the millisecond of the message it answers would otherwise
    carry the same time on the wire (milliseconds), and clients that order messages by it
    (the official chat client's suite does) could show the reply first. The conversation's
    row lock makes the times of its messages strictly increase, across processes too.
    """
    counts: dict[str, Any] = {"next_sequence": _CONVERSATIONS.c.next_sequence + 1}
    if outgoing:
        waiting = _CONVERSATIONS.c.undelivered > 0
        counts["undelivered"] = case((waiting, _CONVERSATIONS.c.undelivered + 1), else_=0)
    moment = bindparam("moment", type_=_CONVERSATIONS.c.updated_at.type)
    after_last = _MillisecondAfter(_CONVERSATIONS.c.updated_at)
    return (
        update(_CONVERSATIONS)
        .where(_CONVERSATIONS.c.id == bindparam("conversation"))
        .values(**counts, updated_at=case((after_last > moment, after_last), else_=moment))
        .returning(
            _CONVERSATIONS.c.next_sequence,
            _CONVERSATIONS.c.undelivered,
            _CONVERSATIONS.c.updated_at,
        )
    )


_NEXT_INCOMING = Prepared(_next_sequence(outgoing=False))
_NEXT_OUTGOING = Prepared(_next_sequence(outgoing=True))


def _numbered_insert(
    *, outgoing: bool, queued: bool = False, remembered: bool = False, claiming: bool = False
) -> Any:
    """``_next_sequence`` and ``_INSERT_MESSAGE`` as one statement (PostgreSQL only).

    ``WITH numbers AS (UPDATE conversations ... RETURNING) INSERT INTO messages SELECT ...
    FROM numbers RETURNING``: the same row lock, numbers and time, in one round trip. With
    ``queued``, a ``job AS (INSERT INTO jobs ... SELECT ... FROM numbers)`` queues the
    message's job too (its columns bound as ``job_<column>``). With ``remembered``, a first
    ``key AS (INSERT INTO idempotency_keys ... ON CONFLICT DO NOTHING RETURNING)`` remembers
    the key (``key_scope``, ``key_key``, ``key_at``) only if the conversation exists, and
    ``numbers`` finds the conversation only if the key was new: a repeat, like a missing
    conversation, changes nothing and returns no row. With ``claiming`` (see
    ``_claiming_receive``) the job is queued already leased when its conversation is free.
    SQLite has no ``UPDATE`` inside ``WITH``, and its statements cost no round trip anyway.
    """
    numbering = _next_sequence(outgoing=outgoing)
    if remembered:
        key = (
            postgresql_insert(_KEYS)
            .from_select(
                ["scope", "key", "created_at"],
                select(
                    bindparam("key_scope", type_=_KEYS.c.scope.type),
                    bindparam("key_key", type_=_KEYS.c.key.type),
                    bindparam("key_at", type_=_KEYS.c.created_at.type),
                ).where(_CONVERSATIONS.c.id == bindparam("conversation")),
            )
            .on_conflict_do_nothing()
            .returning(_KEYS.c.scope)
            .cte("remembered")
        )
        numbering = numbering.where(exists(key.select()))
    numbers = numbering.cte("numbers")

    columns: dict[str, Any] = {
        name: bindparam(name, type_=_MESSAGES.c[name].type) for name in _INSERTED_FIELDS
    }
    columns["conversation_id"] = bindparam("conversation", type_=_MESSAGES.c.conversation_id.type)
    columns["sequence"] = numbers.c.next_sequence - 1
    columns["created_at"] = numbers.c.updated_at
    if outgoing:  # joins the delivery queue when earlier messages wait
        columns["status"] = case((numbers.c.undelivered > 0, "queued"), else_=columns["status"])
    statement = (
        insert(_MESSAGES)
        .from_select(list(columns), select(*columns.values()))
        .returning(_MESSAGES.c.sequence, _MESSAGES.c.status, _MESSAGES.c.created_at)
    )
    if queued:
        job = {name: bindparam(f"job_{name}", type_=_JOBS.c[name].type) for name in JOB_FIELDS}
        job["conversation_id"] = columns["conversation_id"]  # only if ``numbers`` found it
        if claiming:
            return _claiming_receive(statement, numbers, job)
        queue = insert(_JOBS).from_select(list(job), select(*job.values()).select_from(numbers))
        statement = statement.add_cte(queue.cte("job"))
    return statement


def _claiming_receive(message: Any, numbers: Any, job: dict[str, Any]) -> Any:
    """A received message stored with its job leased to ``owner`` until ``until`` when the
    conversation is free, and what running the job needs, in one statement (PostgreSQL).

    Free means no unfinished job in the conversation, read in the statement's snapshot. A
    receive that waited for the conversation's row lock (another message of it stored
    meanwhile) may miss that message's job in its snapshot, so it claims only when the row
    it updated is the one its snapshot saw (``next_sequence`` one up, ``undelivered``
    unchanged); otherwise the job is queued as usual and the caller claims as before. The
    rows: the message's ``sequence``, ``status`` and ``created_at``, the job's columns as
    ``job_<column>``, the conversation's and author's (``_CONVERSATION_AND_USER_COLUMNS``),
    one per tag of those two.
    """
    conversation_id = job["conversation_id"]
    seen = (
        select(_CONVERSATIONS.c.next_sequence, _CONVERSATIONS.c.undelivered)
        .where(_CONVERSATIONS.c.id == conversation_id)
        .cte("seen")
    )
    busy = exists().where(
        _JOBS.c.conversation_id == conversation_id,
        or_(*(_JOBS.c.status == status for status in UNFINISHED)),
    )
    verdict = (
        select(
            and_(
                numbers.c.next_sequence == seen.c.next_sequence + 1,
                numbers.c.undelivered == seen.c.undelivered,
                ~busy,
            ).label("free")
        )
        .select_from(numbers.join(seen, true()))
        .cte("verdict")
    )
    free = verdict.c.free
    job = {
        **job,
        "status": case((free, "running"), else_=job["status"]),
        "runs": case((free, job["runs"] + 1), else_=job["runs"]),
        "leased_by": case((free, bindparam("owner", type_=_JOBS.c.leased_by.type))),
        "leased_until": case((free, bindparam("until", type_=_JOBS.c.leased_until.type))),
    }
    queued = (
        insert(_JOBS)
        .from_select(list(job), select(*job.values()).select_from(verdict))
        .returning(*JOB_COLUMNS)
        .cte("job")
    )
    stored = message.cte("message")
    tags = _TAGS.alias("owned")
    author = bindparam("user_id", type_=_MESSAGES.c.user_id.type)
    owned = or_(
        and_(tags.c.kind == "conversation", tags.c.owner_id == queued.c.conversation_id),
        and_(tags.c.kind == "user", tags.c.owner_id == author),
    )
    return select(
        stored.c.sequence,
        stored.c.status,
        stored.c.created_at,
        *(queued.c[column.key].label(f"job_{column.key}") for column in JOB_COLUMNS),
        queued.c.conversation_id,
        *_CONVERSATION_AND_USER_COLUMNS,
        tags.c.kind.label("tag_kind"),
        tags.c.key.label("tag_key"),
        tags.c.value.label("tag_value"),
    ).select_from(
        stored.join(queued, true())
        .join(_CONVERSATIONS, _CONVERSATIONS.c.id == queued.c.conversation_id)
        .outerjoin(_USERS, _USERS.c.id == author)
        .outerjoin(tags, owned)
    )


_NUMBERED_INSERT = {
    (outgoing, queued, remembered): Prepared(
        _numbered_insert(outgoing=outgoing, queued=queued, remembered=remembered)
    )
    for outgoing, queued, remembered in (
        (False, False, False),
        (False, True, False),
        (False, True, True),
        (True, False, False),
    )
}
_CLAIMING_RECEIVE = {
    remembered: Prepared(
        _numbered_insert(outgoing=False, queued=True, remembered=remembered, claiming=True)
    )
    for remembered in (False, True)
}
_CONVERSATION_EXISTS = Prepared(
    select(_CONVERSATIONS.c.id).where(_CONVERSATIONS.c.id == bindparam("conversation"))
)


def _conversation_exists(connection: Connection, conversation_id: str) -> bool:
    return bool(_CONVERSATION_EXISTS.execute(connection, {"conversation": conversation_id}).rows)


class _Repeated(Exception):
    """A message whose idempotency key was seen before: nothing was stored."""


def _tag_parameters(kind: str, tags: Mapping[str, str], prefix: str = "") -> dict[str, Any]:
    """The values of ``_owners_tagged(len(tags), prefix)``'s parameters."""
    if not tags:
        raise ValueError("find by tags needs at least one tag")
    parameters: dict[str, Any] = {f"{prefix}kind": kind}
    for number, (key, value) in enumerate(tags.items()):
        parameters[f"{prefix}key_{number}"] = key
        parameters[f"{prefix}value_{number}"] = str(value)
    return parameters


@functools.cache
def _owners_tagged(count: int, prefix: str = "") -> Any:
    """Owners of one kind carrying ``count`` given tags (``key_N``/``value_N``, each parameter
    name after ``prefix``), built once per count so the hot path reuses the statement and its
    compiled form.

    Each tag is its own lookup on the ``(kind, key, value)`` index, intersected with ``IN``: a
    ``GROUP BY owner_id`` over the matches made SQLite walk every tag of the kind in owner
    order instead, which grew with the number of conversations.
    """

    def carrying(n: int) -> Any:
        return select(_TAGS.c.owner_id).where(
            _TAGS.c.kind == bindparam(f"{prefix}kind"),
            _TAGS.c.key == bindparam(f"{prefix}key_{n}"),
            _TAGS.c.value == bindparam(f"{prefix}value_{n}"),
        )

    owners = carrying(0)
    for n in range(1, count):
        owners = owners.where(_TAGS.c.owner_id.in_(carrying(n)))
    return owners


def _joined_with_tags(records: Any, kind: str) -> tuple[Any, Any]:
    """``records`` left-joined with their tags (``tag_key``/``tag_value``, None when it has
    none), and the column list to select."""
    owned = _TAGS.alias("owned")
    columns = (*records.c, owned.c.key.label("tag_key"), owned.c.value.label("tag_value"))
    joined = records.outerjoin(owned, and_(owned.c.owner_id == records.c.id, owned.c.kind == kind))
    return columns, joined


def _one_with_tags(records: Any, kind: str) -> Any:
    """One record by ``id`` with its tags, one row per tag (at least one row)."""
    columns, joined = _joined_with_tags(records, kind)
    return select(*columns).select_from(joined).where(records.c.id == bindparam("id"))


_USER_WITH_TAGS = Prepared(_one_with_tags(_USERS, "user"))
_CONVERSATION_WITH_TAGS = Prepared(_one_with_tags(_CONVERSATIONS, "conversation"))


@functools.cache
def _owner_ids_tagged(count: int) -> Prepared:
    return Prepared(_owners_tagged(count))


@functools.cache
def _users_tagged(count: int) -> Prepared:
    """Users carrying ``count`` given tags, each joined with all its tags."""
    columns, joined = _joined_with_tags(_USERS, "user")
    owners = _owners_tagged(count)
    return Prepared(select(*columns).select_from(joined).where(_USERS.c.id.in_(owners)))


@functools.cache
def _conversations_tagged(count: int) -> Prepared:
    """Conversations carrying ``count`` given tags (of ``integration`` unless it is None),
    each joined with all its tags."""
    columns, joined = _joined_with_tags(_CONVERSATIONS, "conversation")
    owners = _owners_tagged(count)
    integration = bindparam("integration", type_=_CONVERSATIONS.c.integration.type)
    return Prepared(
        select(*columns)
        .select_from(joined)
        .where(
            _CONVERSATIONS.c.id.in_(owners),
            or_(integration.is_(None), _CONVERSATIONS.c.integration == integration),
        )
    )


@functools.cache
def _participant_tagged(conversation_tags: int, user_tags: int) -> Prepared:
    """A conversation and a participant, each found by its tags (parameters after
    ``conversation_`` and ``user_``), with the tags of both: a row per tag, earliest member
    first."""
    tags = _TAGS.alias("owned")
    owned = or_(
        and_(tags.c.kind == "conversation", tags.c.owner_id == _PARTICIPANTS.c.conversation_id),
        and_(tags.c.kind == "user", tags.c.owner_id == _PARTICIPANTS.c.user_id),
    )
    joined = (
        _PARTICIPANTS.join(_CONVERSATIONS, _CONVERSATIONS.c.id == _PARTICIPANTS.c.conversation_id)
        .join(_USERS, _USERS.c.id == _PARTICIPANTS.c.user_id)
        .outerjoin(tags, owned)
    )
    integration = bindparam("integration", type_=_CONVERSATIONS.c.integration.type)
    return Prepared(
        select(
            _PARTICIPANTS.c.conversation_id,
            *_CONVERSATION_AND_USER_COLUMNS,
            _PARTICIPANTS.c.created_at.label("joined_at"),
            tags.c.kind.label("tag_kind"),
            tags.c.key.label("tag_key"),
            tags.c.value.label("tag_value"),
        )
        .select_from(joined)
        .where(
            _PARTICIPANTS.c.conversation_id.in_(_owners_tagged(conversation_tags, "conversation_")),
            _PARTICIPANTS.c.user_id.in_(_owners_tagged(user_tags, "user_")),
            or_(integration.is_(None), _CONVERSATIONS.c.integration == integration),
        )
        .order_by(_PARTICIPANTS.c.created_at)
    )


def _participant(rows: Sequence[Any]) -> Participant | None:
    """The first pair ``_participant_tagged`` found, from its rows."""
    if not rows:
        return None
    first = rows[0]
    pair = (first.conversation_id, first.user_found)
    tags = _tags_by_kind(row for row in rows if (row.conversation_id, row.user_found) == pair)
    conversation, user = _conversation_and_user(first, tags)
    assert user is not None  # an inner join
    return Participant(conversation=conversation, user=user, joined_at=first.joined_at)


def _join_statement(insert_for: Any) -> Prepared:
    """``INSERT INTO participants ... SELECT`` the pair when both exist, a repeat ignored."""
    values = select(
        bindparam("conversation", type_=_PARTICIPANTS.c.conversation_id.type),
        bindparam("user", type_=_PARTICIPANTS.c.user_id.type),
        bindparam("at", type_=_PARTICIPANTS.c.created_at.type),
    ).where(
        exists().where(_CONVERSATIONS.c.id == bindparam("conversation")),
        exists().where(_USERS.c.id == bindparam("user")),
    )
    return Prepared(
        insert_for(_PARTICIPANTS)
        .from_select(["conversation_id", "user_id", "created_at"], values)
        .on_conflict_do_nothing()
    )


_JOIN = {"sqlite": _join_statement(sqlite_insert), "postgresql": _join_statement(postgresql_insert)}
_EXISTS = {
    "conversation": Prepared(
        select(_CONVERSATIONS.c.id).where(_CONVERSATIONS.c.id == bindparam("id"))
    ),
    "user": Prepared(select(_USERS.c.id).where(_USERS.c.id == bindparam("id"))),
}
_LEAVE = Prepared(
    delete(_PARTICIPANTS).where(
        _PARTICIPANTS.c.conversation_id == bindparam("conversation"),
        _PARTICIPANTS.c.user_id == bindparam("user"),
    )
)
_PARTICIPANT_IDS = Prepared(
    select(_PARTICIPANTS.c.user_id)
    .where(_PARTICIPANTS.c.conversation_id == bindparam("id"))
    .order_by(_PARTICIPANTS.c.created_at, _PARTICIPANTS.c.user_id)
)
_PARTICIPATION_IDS = Prepared(
    select(_PARTICIPANTS.c.conversation_id)
    .where(_PARTICIPANTS.c.user_id == bindparam("id"))
    .order_by(_PARTICIPANTS.c.created_at, _PARTICIPANTS.c.conversation_id)
)


def _with_tags(rows: Any, record: Callable[[Any, dict[str, str]], _T]) -> list[_T]:
    """Records from rows of ``_joined_with_tags`` (one row per tag), in the order found."""
    found: dict[str, tuple[Any, dict[str, str]]] = {}
    for row in rows:
        tags = found.setdefault(row.id, (row, {}))[1]
        if row.tag_key is not None:
            tags[row.tag_key] = row.tag_value
    return [record(row, tags) for row, tags in found.values()]


def _state_key(scope: str, owner_id: str, namespace: str, name: str) -> dict[str, str]:
    """The values of ``_STATE_KEY``'s parameters for one state."""
    return {"scope": scope, "owner_id": owner_id, "namespace": namespace, "name": name}


_STATE_KEY = (
    _STATES.c.scope == bindparam("scope"),
    _STATES.c.owner_id == bindparam("owner_id"),
    _STATES.c.namespace == bindparam("namespace"),
    _STATES.c.name == bindparam("name"),
)
_GET_STATE = Prepared(select(_STATES.c.value).where(*_STATE_KEY))
_LOCK_STATE = Prepared(select(_STATES.c.value).where(*_STATE_KEY).with_for_update())
_DELETE_STATE = Prepared(delete(_STATES).where(*_STATE_KEY))
_INSERT_STATE = Prepared(
    insert(_STATES), columns=("scope", "owner_id", "namespace", "name", "value", "updated_at")
)
_UPDATE_STATE = Prepared(
    update(_STATES)
    .where(*_STATE_KEY)
    .values(
        value=bindparam("value", type_=_STATES.c.value.type),
        updated_at=bindparam("updated_at", type_=_STATES.c.updated_at.type),
    )
)


def _identity_key(kind: str, integration: str, tags: Mapping[str, str]) -> str:
    canonical = json.dumps([kind, integration, sorted(tags.items())], separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def _cursor_position(cursor: str) -> int:
    try:
        return int(cursor)
    except ValueError:
        raise ValueError(f"{cursor!r} is not a cursor this store issued") from None
