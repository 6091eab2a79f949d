"""participants: a row per user taking part in a conversation

The chat integrations kept participants as id lists in states (a conversation's
``participants``, a user's ``conversations``, in the integration alias's namespace, holding
chat ids). Those lists move into the table, in their order, and the states go.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import patchwire.store._tables

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
_STATES = sa.table(
    "states",
    sa.column("scope", sa.String),
    sa.column("owner_id", sa.String),
    sa.column("namespace", sa.String),
    sa.column("name", sa.String),
    sa.column("value", _JSON),
)
_TAGS = sa.table(
    "tags",
    sa.column("kind", sa.String),
    sa.column("owner_id", sa.String),
    sa.column("key", sa.String),
    sa.column("value", sa.String),
)


def upgrade() -> None:
    participants = op.create_table(
        "participants",
        sa.Column("conversation_id", sa.String(length=32), nullable=False),
        sa.Column("user_id", sa.String(length=32), nullable=False),
        sa.Column("created_at", patchwire.store._tables.Timestamp(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["conversation_id"], ["conversations.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("conversation_id", "user_id"),
    )
    op.create_index("ix_participants_user", "participants", ["user_id", "created_at"])
    _move_chat_participants(participants)


def _move_chat_participants(participants: sa.Table) -> None:
    """Each chat conversation's ``participants`` state becomes rows, in the list's order.

    A chat integration's namespace is its alias, whose users carry ``<alias>.chatId`` tags;
    states of the same names in other namespaces are left alone.
    """
    connection = op.get_bind()
    keys = connection.execute(
        sa.select(_TAGS.c.key)
        .where(_TAGS.c.kind == "user", _TAGS.c.key.like("%.chatId"))
        .distinct()
    ).scalars()
    namespaces = sorted(key.removesuffix(".chatId") for key in keys)
    if not namespaces:
        return
    lists = connection.execute(
        sa.select(_STATES.c.owner_id, _STATES.c.namespace, _STATES.c.value).where(
            _STATES.c.scope == "conversation",
            _STATES.c.name == "participants",
            _STATES.c.namespace.in_(namespaces),
        )
    ).all()
    joined = datetime.now(UTC)
    for conversation_id, namespace, value in lists:
        chat_ids = list(dict.fromkeys(_ids(value)))
        found = connection.execute(
            sa.select(_TAGS.c.value, _TAGS.c.owner_id).where(
                _TAGS.c.kind == "user",
                _TAGS.c.key == f"{namespace}.chatId",
                _TAGS.c.value.in_(chat_ids),
            )
        ).all()
        by_chat_id: dict[str, str] = {chat_id: user_id for chat_id, user_id in found}
        rows = [
            {
                "conversation_id": conversation_id,
                "user_id": by_chat_id[chat_id],
                "created_at": joined + timedelta(microseconds=order),
            }
            for order, chat_id in enumerate(chat_ids)
            if chat_id in by_chat_id
        ]
        if rows:
            connection.execute(sa.insert(participants), rows)
    for scope, name in (("conversation", "participants"), ("user", "conversations")):
        connection.execute(
            sa.delete(_STATES).where(
                _STATES.c.scope == scope,
                _STATES.c.name == name,
                _STATES.c.namespace.in_(namespaces),
            )
        )


def _ids(value: Any) -> list[str]:
    ids = value.get("ids") if isinstance(value, dict) else None
    return [each for each in ids if isinstance(each, str)] if isinstance(ids, list) else []


def downgrade() -> None:
    """Drops the table: the participants it holds are not written back into states."""
    op.drop_index("ix_participants_user", table_name="participants")
    op.drop_table("participants")
