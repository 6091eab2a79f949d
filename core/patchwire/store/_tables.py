"""The tables, as SQLAlchemy 2 typed declarative models (portable: SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

__all__ = [
    "Base",
    "ConversationRow",
    "EffectRow",
    "EventRow",
    "IdempotencyKeyRow",
    "JobRow",
    "MessageRow",
    "ParticipantRow",
    "ScheduledEventRow",
    "StateRow",
    "TagRow",
    "UserRow",
    "table",
]

Json = JSON().with_variant(JSONB(), "postgresql")


class Timestamp(TypeDecorator[datetime]):
    """An aware UTC datetime on every backend (SQLite stores naive text otherwise)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("timestamps must be timezone-aware")
        utc = value.astimezone(UTC)
        return utc if dialect.name == "postgresql" else utc.replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    type_annotation_map: ClassVar[dict[Any, Any]] = {dict[str, Any]: Json, datetime: Timestamp()}


class UserRow(Base):
    __tablename__ = "users"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    integration: Mapped[str] = mapped_column(String(100))
    name: Mapped[str | None] = mapped_column(String(500))
    picture_url: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class ConversationRow(Base):
    __tablename__ = "conversations"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    integration: Mapped[str] = mapped_column(String(100))
    channel: Mapped[str] = mapped_column(String(100))
    next_sequence: Mapped[int] = mapped_column(Integer, default=1)
    undelivered: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    """Outgoing messages waiting for a retry; while non-zero, new ones queue behind them."""
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class MessageRow(Base):
    __tablename__ = "messages"
    __table_args__ = (
        UniqueConstraint("conversation_id", "sequence", name="uq_messages_sequence"),
        Index("uq_messages_effect", "effect_key", unique=True),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    conversation_id: Mapped[str] = mapped_column(ForeignKey("conversations.id", ondelete="CASCADE"))
    user_id: Mapped[str | None] = mapped_column(String(32))
    sequence: Mapped[int] = mapped_column(Integer)
    direction: Mapped[str] = mapped_column(String(8))
    type: Mapped[str] = mapped_column(String(50))
    payload: Mapped[dict[str, Any]]
    meta: Mapped[dict[str, Any] | None] = mapped_column("metadata", Json)
    status: Mapped[str] = mapped_column(String(16))
    effect_key: Mapped[str | None] = mapped_column(String(200))
    """Which step of which job sent it (outgoing only): a replayed job finds it, not resends."""
    created_at: Mapped[datetime]


class ParticipantRow(Base):
    """A user taking part in a conversation (a chat's members, a ticket's requester): a row
    each, so joining, leaving and checking are one indexed statement at any size."""

    __tablename__ = "participants"
    __table_args__ = (Index("ix_participants_user", "user_id", "created_at"),)

    conversation_id: Mapped[str] = mapped_column(
        ForeignKey("conversations.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[str] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    created_at: Mapped[datetime]


class TagRow(Base):
    """One tag on a user, conversation or message; ``(kind, key, value)`` finds owners."""

    __tablename__ = "tags"
    __table_args__ = (
        UniqueConstraint("kind", "owner_id", "key", name="uq_tags_owner_key"),
        Index("ix_tags_lookup", "kind", "key", "value"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(16))
    owner_id: Mapped[str] = mapped_column(String(32))
    key: Mapped[str] = mapped_column(String(200))
    value: Mapped[str] = mapped_column(String(500))


class StateRow(Base):
    __tablename__ = "states"
    __table_args__ = (
        UniqueConstraint("scope", "owner_id", "namespace", "name", name="uq_states_key"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    scope: Mapped[str] = mapped_column(String(16))
    owner_id: Mapped[str] = mapped_column(String(32))
    namespace: Mapped[str] = mapped_column(String(100))
    name: Mapped[str] = mapped_column(String(200))
    value: Mapped[dict[str, Any]]
    updated_at: Mapped[datetime]


class EventRow(Base):
    __tablename__ = "events"
    __table_args__ = (Index("uq_events_effect", "effect_key", unique=True),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    type: Mapped[str] = mapped_column(String(200))
    source: Mapped[str] = mapped_column(String(100))
    payload: Mapped[dict[str, Any]]
    conversation_id: Mapped[str | None] = mapped_column(String(32), index=True)
    user_id: Mapped[str | None] = mapped_column(String(32))
    effect_key: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime]


class ScheduledEventRow(Base):
    __tablename__ = "scheduled_events"
    __table_args__ = (
        Index("ix_scheduled_due", "status", "due_at"),
        Index("uq_scheduled_effect", "effect_key", unique=True),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    type: Mapped[str] = mapped_column(String(200))
    source: Mapped[str] = mapped_column(String(100))
    payload: Mapped[dict[str, Any]]
    conversation_id: Mapped[str | None] = mapped_column(String(32))
    user_id: Mapped[str | None] = mapped_column(String(32))
    due_at: Mapped[datetime]
    status: Mapped[str] = mapped_column(String(16))
    claimed_by: Mapped[str | None] = mapped_column(String(100))
    claimed_until: Mapped[datetime | None]
    effect_key: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime]


class IdempotencyKeyRow(Base):
    __tablename__ = "idempotency_keys"

    scope: Mapped[str] = mapped_column(String(100), primary_key=True)
    key: Mapped[str] = mapped_column(String(300), primary_key=True)
    created_at: Mapped[datetime]


class JobRow(Base):
    """Durable work for one conversation, processed in ``id`` order, one at a time."""

    __tablename__ = "jobs"
    __table_args__ = (
        Index("ix_jobs_pending", "status", "available_at"),
        Index("ix_jobs_conversation", "conversation_id", "status"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    conversation_id: Mapped[str] = mapped_column(String(32))
    kind: Mapped[str] = mapped_column(String(32))
    payload: Mapped[dict[str, Any]]
    status: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    runs: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    """How many times it was claimed: above one, its effects may have happened already."""
    last_error: Mapped[str | None] = mapped_column(Text)
    failing_since: Mapped[datetime | None]
    """When its first failed attempt was; retries stop after the retry period from here."""
    available_at: Mapped[datetime]
    leased_by: Mapped[str | None] = mapped_column(String(100))
    leased_until: Mapped[datetime | None]
    created_at: Mapped[datetime]


class EffectRow(Base):
    """The recorded result of one action call of one job, replayed when the job runs again."""

    __tablename__ = "effects"

    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    result: Mapped[dict[str, Any]]
    created_at: Mapped[datetime]


def table(model: type[Base]) -> Table:
    """A model's Core table: hot-path statements are built on it, which keeps them off the ORM
    execution path (its bulk-update bookkeeping was a tenth of the pipeline's CPU)."""
    found = model.__table__
    assert isinstance(found, Table)
    return found
