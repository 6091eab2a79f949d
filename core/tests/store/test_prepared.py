"""Prepared statements give what ``Connection.execute`` gives, on both backends."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import bindparam, exc, insert, select
from sqlalchemy.engine import Connection

from patchwire.store import Store
from patchwire.store._prepared import Prepared
from patchwire.store._store import _INSERT_MESSAGE
from patchwire.store._tables import JobRow, MessageRow, StateRow, table

MESSAGES = table(MessageRow)
JOBS = table(JobRow)
STATES = table(StateRow)
INSERT = _INSERT_MESSAGE
SELECT = select(
    MESSAGES.c.id, MESSAGES.c.payload, MESSAGES.c.metadata.label("meta"), MESSAGES.c.created_at
).where(MESSAGES.c.conversation_id == bindparam("conversation"))


def _message(conversation_id: str, number: int) -> dict[str, object]:
    return {
        "id": f"m{number}",
        "conversation_id": conversation_id,
        "user_id": None,
        "sequence": number,
        "direction": "incoming",
        "type": "text",
        "payload": {"text": f"hello {number}", "nested": [1, {"a": None}]},
        "metadata": None if number % 2 else {"k": "v"},
        "status": "received",
        "effect_key": None,
        "created_at": datetime(2026, 12, 1, 12, number, tzinfo=UTC),
    }


async def test_rows_match_connection_execute(store: Store) -> None:
    conversation = await store.create_conversation(integration="i", channel="c")
    prepared = Prepared(SELECT)

    def body(connection: Connection) -> tuple[list[tuple[object, ...]], list[tuple[object, ...]]]:
        for number in range(3):
            assert INSERT.execute(connection, _message(conversation.id, number)).rowcount == 1
        values = {"conversation": conversation.id}
        ours = [tuple(row) for row in prepared.execute(connection, values).rows]
        theirs = [tuple(row) for row in connection.execute(SELECT, values).all()]
        return ours, theirs

    ours, theirs = await store._write(body)
    assert len(ours) == 3
    assert sorted(ours, key=str) == sorted(theirs, key=str)
    first = min(ours, key=lambda row: str(row[0]))
    assert first[1] == {"text": "hello 0", "nested": [1, {"a": None}]}
    assert first[2] == {"k": "v"}
    assert first[3] == datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


async def test_a_constraint_violation_is_sqlalchemys_and_rolls_the_transaction_back(
    store: Store,
) -> None:
    conversation = await store.create_conversation(integration="i", channel="c")

    def twice(connection: Connection) -> None:
        INSERT.execute(connection, _message(conversation.id, 7))
        INSERT.execute(connection, _message(conversation.id, 7))

    with pytest.raises(exc.IntegrityError):
        await store._write(twice)
    left = await store._read(
        lambda connection: Prepared(SELECT).execute(connection, {"conversation": conversation.id})
    )
    assert left.rows == []


async def test_an_insert_without_returning_into_an_autoincrement_table(store: Store) -> None:
    """PostgreSQL returns the new key unasked (implicit RETURNING); SQLite returns nothing."""
    columns = ("scope", "owner_id", "namespace", "name", "value", "updated_at")
    prepared = Prepared(insert(STATES), columns=columns)
    values = {
        "scope": "user",
        "owner_id": "u1",
        "namespace": "n",
        "name": "s",
        "value": {"value": 1},
        "updated_at": datetime(2026, 12, 1, tzinfo=UTC),
    }
    inserted = await store._write(lambda connection: prepared.execute(connection, values))
    assert inserted.rowcount == 1
    if store.engine.dialect.name == "postgresql":
        assert [tuple(row._fields) for row in inserted.rows] == [("id",)]
    stored = await store._read(
        lambda connection: connection.execute(select(STATES.c.value, STATES.c.owner_id)).all()
    )
    assert [tuple(row) for row in stored] == [({"value": 1}, "u1")]


async def test_a_missing_value_is_refused_by_name(store: Store) -> None:
    with pytest.raises(exc.ArgumentError, match="'conversation'"):
        await store._read(lambda connection: Prepared(SELECT).execute(connection, {}))
    # an INSERT names its columns: leaving one out is refused, never stored as NULL
    conversation = await store.create_conversation(integration="i", channel="c")
    values = _message(conversation.id, 1)
    del values["effect_key"]
    with pytest.raises(exc.ArgumentError, match="'effect_key'"):
        await store._write(lambda connection: INSERT.execute(connection, values))


async def test_statements_whose_sql_depends_on_values_are_refused(store: Store) -> None:
    expanding = select(MESSAGES.c.id).where(MESSAGES.c.id.in_(bindparam("ids", expanding=True)))
    with pytest.raises(TypeError, match=r"Connection\.execute"):
        await store._read(lambda connection: Prepared(expanding).execute(connection, {"ids": []}))
    # jobs.attempts has a Python-side default: an insert leaving it out cannot be prepared
    partial = Prepared(insert(JOBS), columns=("conversation_id", "kind", "payload", "status"))
    with pytest.raises(TypeError, match="columns"):
        await store._write(lambda connection: partial.execute(connection, {}))
