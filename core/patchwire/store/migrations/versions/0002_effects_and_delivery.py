"""effects recorded per job step, outgoing delivery backlog, job runs

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import patchwire.store._tables

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_EFFECT_INDEXES = (
    ("messages", "uq_messages_effect"),
    ("events", "uq_events_effect"),
    ("scheduled_events", "uq_scheduled_effect"),
)


def upgrade() -> None:
    for table, index in _EFFECT_INDEXES:
        op.add_column(table, sa.Column("effect_key", sa.String(length=200), nullable=True))
        op.create_index(index, table, ["effect_key"], unique=True)
    op.add_column(
        "conversations",
        sa.Column("undelivered", sa.Integer(), server_default="0", nullable=False),
    )
    op.add_column("jobs", sa.Column("runs", sa.Integer(), server_default="0", nullable=False))
    op.add_column(
        "jobs",
        sa.Column("failing_since", patchwire.store._tables.Timestamp(timezone=True), nullable=True),
    )
    op.create_table(
        "effects",
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column(
            "result",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("created_at", patchwire.store._tables.Timestamp(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("key"),
    )


def downgrade() -> None:
    # Batch mode: SQLite drops a column by copying the table.
    op.drop_table("effects")
    with op.batch_alter_table("jobs") as batch:
        batch.drop_column("failing_since")
        batch.drop_column("runs")
    with op.batch_alter_table("conversations") as batch:
        batch.drop_column("undelivered")
    for table, index in _EFFECT_INDEXES:
        op.drop_index(index, table_name=table)
        with op.batch_alter_table(table) as batch:
            batch.drop_column("effect_key")
