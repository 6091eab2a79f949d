"""The desk's tables; the schema itself is made by the alembic revisions in ``migrations/``."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, ClassVar

from sqlalchemy import JSON, Boolean, DateTime, Float, ForeignKey, Integer, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

__all__ = [
    "AgentRow",
    "Base",
    "ConversationRow",
    "IdempotentCallRow",
    "LoginFailuresRow",
    "LoginRow",
    "MessageRow",
    "PersonRow",
    "SeenSignatureRow",
    "now",
]

NAME_LENGTH = 60
"""Agent names: shown in the desk and to the user, so short."""
KEY_LENGTH = 200
"""Idempotency keys and signature keys."""
ID_LENGTH = 40
PERSON_LENGTH = 500
"""A user's name and email."""
PATCHWIRE_ID_LENGTH = 100
TYPE_LENGTH = 40
"""A message type."""


def now() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        dict[str, Any]: JSON,
        datetime: DateTime(timezone=True),
    }


class PersonRow(Base):
    """An end user patchwire handed over (``/createRemoteUser``)."""

    __tablename__ = "people"

    id: Mapped[str] = mapped_column(String(ID_LENGTH), primary_key=True)
    name: Mapped[str] = mapped_column(String(PERSON_LENGTH))
    email: Mapped[str | None] = mapped_column(String(PERSON_LENGTH))
    picture_url: Mapped[str | None] = mapped_column(Text)


class ConversationRow(Base):
    __tablename__ = "conversations"

    id: Mapped[str] = mapped_column(String(ID_LENGTH), primary_key=True)
    person_id: Mapped[str] = mapped_column(ForeignKey("people.id"))
    patchwire_conversation_id: Mapped[str | None] = mapped_column(String(PATCHWIRE_ID_LENGTH))
    title: Mapped[str | None] = mapped_column(Text)
    description: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(20), default="waiting")
    agent: Mapped[str | None] = mapped_column(String(200))
    """The name of the agent account that claimed it."""
    closed_by: Mapped[str | None] = mapped_column(String(200))
    closed_reason: Mapped[str | None] = mapped_column(String(40))
    """``agent`` (closed in the desk), ``ended`` (by patchwire after a claim), ``unclaimed``."""
    created_at: Mapped[datetime] = mapped_column(default=now)
    updated_at: Mapped[datetime] = mapped_column(default=now)


class MessageRow(Base):
    __tablename__ = "messages"

    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    id: Mapped[str] = mapped_column(String(40), unique=True)
    conversation_id: Mapped[str] = mapped_column(ForeignKey("conversations.id"), index=True)
    author_kind: Mapped[str] = mapped_column(String(10))
    """``user``, ``bot``, ``agent`` (a human agent), or ``system`` (the desk's own notes)."""
    author: Mapped[str] = mapped_column(String(500))
    type: Mapped[str] = mapped_column(String(TYPE_LENGTH))
    payload: Mapped[dict[str, Any]]
    delivery: Mapped[str] = mapped_column(String(20), default="delivered")
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=now)


class AgentRow(Base):
    """A human agent's account (``patchwire desk add-agent``)."""

    __tablename__ = "agents"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    name: Mapped[str] = mapped_column(String(NAME_LENGTH))
    key: Mapped[str] = mapped_column(String(NAME_LENGTH), unique=True)
    """The name case-folded: logins and uniqueness ignore case."""
    password_hash: Mapped[str] = mapped_column(Text)
    admin: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(default=now)


class LoginRow(Base):
    """A logged-in session: a cookie for the page, or a bearer token for scripts."""

    __tablename__ = "logins"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    """SHA-256 of the token: the database never holds a usable token."""
    agent_id: Mapped[str] = mapped_column(ForeignKey("agents.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(10))
    csrf_token: Mapped[str] = mapped_column(String(64))
    expires_at: Mapped[float] = mapped_column(Float, index=True)


class LoginFailuresRow(Base):
    """Failed logins for one name in the current window (see ``Accounts.authenticate``)."""

    __tablename__ = "login_failures"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    """SHA-256 of the case-folded name tried (names that exist or not alike)."""
    failures: Mapped[int] = mapped_column(Integer)
    first_at: Mapped[float] = mapped_column(Float)


class SeenSignatureRow(Base):
    """A signature accepted on a protocol route, kept until it is outside its window anyway."""

    __tablename__ = "seen_signatures"

    key: Mapped[str] = mapped_column(String(KEY_LENGTH), primary_key=True)
    expires_at: Mapped[float] = mapped_column(Float, index=True)


class IdempotentCallRow(Base):
    """A protocol call by its ``Idempotency-Key``: its answer, replayed to repeats for a day."""

    __tablename__ = "idempotent_calls"

    key: Mapped[str] = mapped_column(String(KEY_LENGTH), primary_key=True)
    fingerprint: Mapped[str] = mapped_column(String(64))
    """SHA-256 of the path and body: one key reused for another request is refused."""
    status: Mapped[int | None] = mapped_column(Integer)
    """None while the first call runs."""
    body: Mapped[str | None] = mapped_column(Text)
    expires_at: Mapped[float] = mapped_column(Float, index=True)
