"""The desk's database: migrations (also from a desk made before them) and what the history says."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import create_engine

from patchwire_generic_hitl import ServiceClient
from patchwire_generic_hitl.desk import DeskStore
from patchwire_generic_hitl.desk import _database as database

from .conftest import FakeAgent, RunningDesk, handed_off


def _tables(path: Path) -> set[str]:
    with sqlite3.connect(path) as connection:
        rows = connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
        return {name for (name,) in rows}


def _revision(path: Path) -> list[str]:
    with sqlite3.connect(path) as connection:
        return [row[0] for row in connection.execute("SELECT version_num FROM alembic_version")]


async def test_a_desk_made_before_migrations_is_stamped_and_upgraded(tmp_path: Path) -> None:
    """0.1.0 made its three tables itself: they are kept, with their rows, and then migrated."""
    path = tmp_path / "old-desk.db"
    config = Config()
    config.set_main_option("script_location", str(database._MIGRATIONS))
    with create_engine(f"sqlite:///{path}").begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, database.FIRST_REVISION)
        connection.exec_driver_sql("DROP TABLE alembic_version")
        connection.exec_driver_sql("INSERT INTO people (id, name) VALUES ('person_old', 'Ada')")
    assert "agents" not in _tables(path)

    store = await DeskStore.open(path)
    try:
        assert await store.person_name("person_old") == "Ada"
        await store.accounts.add("Alice", "a long enough password")
    finally:
        await store.close()
    assert {"agents", "logins", "seen_signatures", "idempotent_calls"} <= _tables(path)
    assert _revision(path) == ["0002"]
    again = await DeskStore.open(path)
    await again.close()
    assert _revision(path) == ["0002"]


async def test_users_without_a_name_are_told_apart(desk: RunningDesk, agent: FakeAgent) -> None:
    store = desk.desk.store
    assert store is not None
    unnamed = await store.add_person("Unknown User")
    with_email = await store.add_person("", email="ada@example.com")
    named = await store.add_person("Grace")
    for person in (unnamed, with_email, named):
        await store.open_conversation(person, title="Help", description=None, history=[])
    shown = {c["person"]["id"]: c["person"]["displayName"] for c in await desk.conversations()}
    assert shown == {
        unnamed: f"Visitor {unnamed[-4:]}",
        with_email: "ada@example.com",
        named: "Grace",
    }


async def test_a_later_session_shows_the_earlier_agent_by_name(
    desk: RunningDesk, patchwire: ServiceClient, agent: FakeAgent
) -> None:
    """patchwire's transcript calls the human agent's earlier lines the bot's; the desk knows."""
    first = await handed_off(patchwire)
    assert (await desk.act(first, "claim", agent="Alice")).status_code == 200
    said = await desk.act(first, "messages", agent="Alice", type="text", text="It ships today")
    assert said.status_code == 200
    assert (await desk.act(first, "close", agent="Alice")).status_code == 200
    person = (await desk.conversation(first))["person"]["id"]

    second = await patchwire.call(
        "/createRemoteConversation",
        {
            "type": "createRemoteConversation",
            "payload": {
                "userId": person,
                "title": "Still waiting",
                "messages": [],
                "messageHistory": [
                    {"source": {"type": "bot"}, "type": "text", "payload": {"text": "Hi!"}},
                    {
                        "source": {"type": "bot"},
                        "type": "text",
                        "payload": {"text": "It ships today"},
                    },
                    {
                        "source": {"type": "user", "userId": person},
                        "type": "text",
                        "payload": {"text": "it did not"},
                    },
                ],
            },
        },
    )
    history = (await desk.conversation(second["id"]))["messages"]
    assert [(m["authorKind"], m["author"], m["delivery"]) for m in history] == [
        ("bot", "Bot", "delivered"),
        ("agent", "Alice", "history"),
        ("user", "Ada", "delivered"),
    ]
    copy = history[1]["id"]
    again = await desk.redeliver(copy, agent="Alice")
    assert again.status_code == 404, "a line of an earlier conversation is not sent again"


async def test_how_a_conversation_ended_is_written_in_its_history(
    desk: RunningDesk, patchwire: ServiceClient, agent: FakeAgent
) -> None:
    unclaimed = await handed_off(patchwire)
    claimed = await handed_off(patchwire)
    closed_here = await handed_off(patchwire)
    assert (await desk.act(claimed, "claim", agent="Alice")).status_code == 200
    assert (await desk.act(closed_here, "claim", agent="Bob")).status_code == 200
    for remote in (unclaimed, claimed):
        await patchwire.call(
            "/closeRemoteTicket",
            {
                "type": "closeRemoteTicket",
                "payload": {"remoteConversationId": remote, "botpressConversationId": "c"},
            },
        )
    assert (await desk.act(closed_here, "close", agent="Bob")).status_code == 200
    ends = {}
    for remote in (unclaimed, claimed, closed_here):
        conversation = await desk.conversation(remote)
        last = conversation["messages"][-1]
        ends[remote] = (
            conversation["closedReason"],
            conversation["closedBy"],
            last["authorKind"] == "system" and last["payload"]["text"],
        )
    assert ends == {
        unclaimed: (
            "unclaimed",
            "the bot",
            "Nobody claimed this conversation before the bot ended it: the wait for an agent "
            "ran out, or the user left.",
        ),
        claimed: ("ended", "the bot", "The conversation was ended on the user's side."),
        closed_here: ("agent", "Bob", False),
    }
