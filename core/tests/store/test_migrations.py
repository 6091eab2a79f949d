from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import insert, select
from sqlalchemy.engine import Connection

from patchwire.store import Store
from patchwire.store._engine import alembic_config, create_engine
from patchwire.store._tables import (
    Base,
    ConversationRow,
    StateRow,
    TagRow,
    UserRow,
    table,
)


def _differences(connection: Connection) -> list[Any]:
    context = MigrationContext.configure(connection, opts={"compare_type": True})
    return list(compare_metadata(context, Base.metadata))


async def test_migrations_and_models_describe_the_same_schema(database_url: str) -> None:
    store = await Store.open(database_url)
    try:
        async with store.engine.connect() as connection:
            assert await connection.run_sync(_differences) == []
            revision = await connection.run_sync(
                lambda sync: MigrationContext.configure(sync).get_current_revision()
            )
        assert revision == "0003"
    finally:
        await store.close()


async def test_chat_participant_lists_move_into_their_table_in_order(database_url: str) -> None:
    """0003 turns each chat conversation's ``participants`` state (chat ids, in join order)
    into rows and drops those states and the users' ``conversations`` lists; the same names
    in a namespace that is no chat integration's are left alone."""
    engine = create_engine(database_url)
    now = datetime.now(UTC)
    states = table(StateRow)

    def old_schema_with_data(connection: Connection) -> None:
        command.upgrade(alembic_config(connection), "0002")
        users = [
            {
                "id": f"u{n}",
                "integration": "chat",
                "name": None,
                "picture_url": None,
                "created_at": now,
                "updated_at": now,
            }
            for n in range(3)
        ]
        connection.execute(insert(table(UserRow)), users)
        connection.execute(
            insert(table(ConversationRow)),
            [
                {
                    "id": "c1",
                    "integration": "chat",
                    "channel": "channel",
                    "next_sequence": 1,
                    "created_at": now,
                    "updated_at": now,
                }
            ],
        )
        connection.execute(
            insert(table(TagRow)),
            [
                {"kind": "user", "owner_id": f"u{n}", "key": "webchat.chatId", "value": f"chat-{n}"}
                for n in range(3)
            ],
        )
        state = {
            "scope": "conversation",
            "owner_id": "c1",
            "name": "participants",
            "updated_at": now,
        }
        connection.execute(
            insert(states),
            [
                {**state, "namespace": "webchat", "value": {"ids": ["chat-2", "chat-0", "gone"]}},
                {**state, "namespace": "crm", "value": {"ids": ["x"]}},
                {
                    "scope": "user",
                    "owner_id": "u2",
                    "namespace": "webchat",
                    "name": "conversations",
                    "value": {"ids": ["c1"]},
                    "updated_at": now,
                },
            ],
        )

    async with engine.begin() as connection:
        await connection.run_sync(old_schema_with_data)
    await engine.dispose()
    store = await Store.open(database_url)
    try:
        assert await store.list_participants("c1") == ["u2", "u0"]
        assert await store.list_participations("u2") == ["c1"]
        async with store.engine.connect() as connection:
            left = (await connection.execute(select(states.c.namespace, states.c.name))).all()
        assert [tuple(row) for row in left] == [("crm", "participants")]
    finally:
        await store.close()
