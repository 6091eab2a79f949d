"""Pooled PostgreSQL connections: pinged only after sitting idle, replaced when found dead.

Every checkout used to ping (three round trips with asyncpg outside a transaction); now only a
connection idle for ``IDLE_BEFORE_PING`` seconds is pinged. The server killing every backend
stands in for a database restart.
"""

from __future__ import annotations

import asyncpg
import pytest
import sqlalchemy.exc

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


async def test_a_connection_used_moments_ago_is_not_pinged_and_one_call_learns_it_died(
    postgres_url: str,
) -> None:
    store = await Store.open(postgres_url)
    try:
        conversation = await store.create_conversation(integration="i", channel="c")
        assert await _kill_backends(postgres_url) >= 1
        # No ping (the connection was checked in moments ago): the first call meets the dead
        # connection, a database failure the runtime retries; the pool is then renewed.
        with pytest.raises(sqlalchemy.exc.DBAPIError) as failure:
            await store.get_conversation(conversation.id)
        assert failure.value.connection_invalidated
        found = await store.get_conversation(conversation.id)
        assert found.id == conversation.id
    finally:
        await store.close()
