"""Pooled PostgreSQL connections: replaced when the server closed them, pinged only after
sitting idle.

Every checkout used to ping (three round trips with asyncpg outside a transaction); now only a
connection idle for ``IDLE_BEFORE_PING`` seconds is pinged, and one whose end of stream asyncpg
has read is replaced without a round trip. The server killing every backend stands in for a
database restart.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest
import sqlalchemy.exc
from sqlalchemy import event
from sqlalchemy.dialects.postgresql.asyncpg import AsyncAdapt_asyncpg_connection

from patchwire.store import Store, _engine

pytestmark = pytest.mark.postgres


async def _kill_backends(url: str) -> int:
    """Terminate every other session of the database; how many there were."""
    connection = await asyncpg.connect(url)
    try:
        killed = await connection.fetch(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
    finally:
        await connection.close()
    return len(killed)


async def test_an_idle_connection_found_dead_is_replaced_before_anyone_uses_it(
    postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = await Store.open(postgres_url)
    try:
        conversation = await store.create_conversation(integration="i", channel="c")
        assert await _kill_backends(postgres_url) >= 1
        monkeypatch.setattr(_engine, "IDLE_BEFORE_PING", 0.0)
        found = await store.get_conversation(conversation.id)
        assert found.id == conversation.id
        again = await store.create_conversation(integration="i", channel="c")
        assert again.id != conversation.id
    finally:
        await store.close()


@pytest.fixture
async def killed(postgres_url: str) -> AsyncIterator[tuple[Store, str]]:
    """A store whose pooled connection was used moments ago, then had its session terminated
    by the server, and has seen it end; with the id of a conversation it holds."""
    store = await Store.open(postgres_url)
    entries: list[Any] = []
    event.listen(store.engine.sync_engine.pool, "checkin", lambda _c, entry: entries.append(entry))
    try:
        conversation = await store.create_conversation(integration="i", channel="c")
        assert await _kill_backends(postgres_url) >= 1
        # A kill returns before the server has closed the sockets (a restart's seconds give
        # the loop time to read the end of the stream): wait until it has.
        for _ in range(200):
            if entries and all(entry.driver_connection.is_closed() for entry in entries):
                break
            await asyncio.sleep(0.01)
        else:
            raise AssertionError("the pooled connection never saw its session end")
        yield store, conversation.id
    finally:
        await store.close()


async def test_a_connection_the_server_closed_is_replaced_at_checkout_without_a_ping(
    killed: tuple[Store, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    store, conversation_id = killed
    pings: list[object] = []
    monkeypatch.setattr(AsyncAdapt_asyncpg_connection, "ping", lambda self: pings.append(self))
    # Before: this call failed (the connection had been used moments ago, so no ping).
    found = await store.get_conversation(conversation_id)
    assert found.id == conversation_id
    assert pings == []


async def test_a_connection_that_died_unseen_fails_one_call_and_the_pool_is_renewed(
    killed: tuple[Store, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    store, conversation_id = killed
    # As if the loop had not read the end of the stream (a network that dropped it silently):
    # no ping (checked in moments ago), so the first call meets the dead connection, a
    # database failure the runtime retries; the pool is then renewed.
    monkeypatch.setattr(_engine, "_seen_closed", lambda _entry: False)
    with pytest.raises(sqlalchemy.exc.DBAPIError) as failure:
        await store.get_conversation(conversation_id)
    assert failure.value.connection_invalidated
    found = await store.get_conversation(conversation_id)
    assert found.id == conversation_id
