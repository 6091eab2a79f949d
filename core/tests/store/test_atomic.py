"""Atomic host state: concurrent read-modify-writes and identity creates lose nothing.

Each test runs on SQLite and PostgreSQL; on PostgreSQL two stores (two engines, as two server
processes would have) race against each other.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from patchwire import AlreadyExistsError
from patchwire.store import Store


@pytest.fixture
async def stores(database_url: str, store: Store) -> AsyncIterator[list[Store]]:
    """The test's store and, on PostgreSQL, a second one on the same database."""
    if store.backend == "sqlite":
        yield [store]
        return
    other = await Store.open(database_url)
    yield [store, other]
    await other.close()


def _append(item: str) -> Any:
    def change(current: Any | None) -> list[str]:
        return [*(current or []), item]

    return change


async def test_parallel_updates_keep_every_change(stores: list[Store]) -> None:
    await asyncio.gather(
        *(
            stores[n % len(stores)].update_state(
                "conversation", "c1", "chat", "participants", _append(f"u{n}")
            )
            for n in range(20)
        )
    )
    kept = await stores[0].get_state("conversation", "c1", "chat", "participants")
    assert sorted(kept) == sorted(f"u{n}" for n in range(20))


async def test_update_returns_what_it_stored_and_none_deletes(store: Store) -> None:
    assert await store.update_state("agent", "", "x", "n", lambda v: (v or 0) + 1) == 1
    assert await store.update_state("agent", "", "x", "n", lambda v: (v or 0) + 1) == 2
    assert await store.update_state("agent", "", "x", "n", lambda v: None) is None
    assert await store.get_state("agent", "", "x", "n") is None


async def test_compare_and_set_lets_one_writer_win(stores: list[Store]) -> None:
    """Twenty processes try to take a first-use secret: one value is kept and seen by all."""

    def take(candidate: str) -> Any:
        return lambda current: current if current is not None else candidate

    seen = await asyncio.gather(
        *(
            stores[n % len(stores)].update_state("agent", "", "chat", "secret", take(f"s{n}"))
            for n in range(20)
        )
    )
    assert len(set(seen)) == 1
    assert await stores[0].get_state("agent", "", "chat", "secret") == seen[0]


async def test_identity_create_has_one_winner(stores: list[Store]) -> None:
    results = await asyncio.gather(
        *(
            stores[n % len(stores)].create_user(
                integration="chat", name=f"n{n}", identity={"chat.chatId": "alice"}
            )
            for n in range(20)
        ),
        return_exceptions=True,
    )
    created = [r for r in results if not isinstance(r, BaseException)]
    refused = [r for r in results if isinstance(r, AlreadyExistsError)]
    assert (len(created), len(refused)) == (1, 19)
    assert "chat.chatId='alice'" in str(refused[0])
    assert [u.id for u in await stores[0].find_users({"chat.chatId": "alice"})] == [created[0].id]
    found = await stores[0].get_or_create_user(integration="chat", tags={"chat.chatId": "alice"})
    assert found.id == created[0].id


async def test_identity_is_per_integration_and_kind(store: Store) -> None:
    await store.create_user(integration="chat", identity={"chatId": "x"})
    await store.create_user(integration="webchat", identity={"chatId": "x"})
    await store.create_conversation(integration="chat", channel="channel", identity={"chatId": "x"})
    with pytest.raises(AlreadyExistsError, match="conversation with chatId='x'"):
        await store.create_conversation(
            integration="chat", channel="channel", identity={"chatId": "x"}
        )


async def test_conversation_identity_race(stores: list[Store]) -> None:
    results = await asyncio.gather(
        *(
            stores[n % len(stores)].create_conversation(
                integration="chat", channel="channel", identity={"chatId": "conv_1"}
            )
            for n in range(20)
        ),
        return_exceptions=True,
    )
    assert sum(not isinstance(r, BaseException) for r in results) == 1
    assert sum(isinstance(r, AlreadyExistsError) for r in results) == 19
