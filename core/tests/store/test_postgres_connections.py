"""Pooled PostgreSQL connections: replaced when the server closed them, pinged only after
sitting idle.

Every checkout used to ping (three round trips with asyncpg outside a transaction); now only a
connection idle for ``IDLE_BEFORE_PING`` seconds is pinged, and one whose end of stream asyncpg
has read is replaced without a round trip. The server killing every backend stands in for a
database restart.
"""

from __future__ import annotations

import asyncio
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


def _returned(store: Store) -> list[Any]:
    """The pool entries of the connections checked in from now on."""
    entries: list[Any] = []
    event.listen(store.engine.sync_engine.pool, "checkin", lambda _c, entry: entries.append(entry))
    return entries


async def _closed_seen(entries: list[Any]) -> None:
    """Wait until the loop has read the end of the killed sessions' streams (a restart's
    seconds give it that time; a kill returns before the server has closed them)."""
    for _ in range(200):
        if entries and all(entry.driver_connection.is_closed() for entry in entries):
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the pooled connection never saw its session end")


async def test_a_connection_the_server_closed_is_replaced_at_checkout_without_a_ping(
    postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = await Store.open(postgres_url)
    try:
        entries = _returned(store)
        conversation = await store.create_conversation(integration="i", channel="c")
        assert await _kill_backends(postgres_url) >= 1
        await _closed_seen(entries)
        pings: list[object] = []
        monkeypatch.setattr(AsyncAdapt_asyncpg_connection, "ping", lambda self: pings.append(self))
        # Before: this call failed (the connection had been used moments ago, so no ping).
        found = await store.get_conversation(conversation.id)
        assert found.id == conversation.id
        assert pings == []
    finally:
        await store.close()


async def test_a_connection_that_died_unseen_fails_one_call_and_the_pool_is_renewed(
    postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = await Store.open(postgres_url)
    try:
        entries = _returned(store)
        conversation = await store.create_conversation(integration="i", channel="c")
        assert await _kill_backends(postgres_url) >= 1
        await _closed_seen(entries)
        # As if the loop had not read the end of the stream yet (or the network dropped it):
        # no ping (checked in moments ago), so the first call meets the dead connection, a
        # database failure the runtime retries; the pool is then renewed.
        monkeypatch.setattr(_engine, "_seen_closed", lambda _entry: False)
        with pytest.raises(sqlalchemy.exc.DBAPIError) as failure:
            await store.get_conversation(conversation.id)
        assert failure.value.connection_invalidated
        found = await store.get_conversation(conversation.id)
        assert found.id == conversation.id
    finally:
        await store.close()
