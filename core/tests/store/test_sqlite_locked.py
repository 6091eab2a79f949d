"""SQLite statements run on the loop; one that meets another process's lock waits off it."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from pathlib import Path

from patchwire.store import Store


async def test_a_write_waits_for_another_connections_lock_without_blocking_the_loop(
    tmp_path: Path,
) -> None:
    path = tmp_path / "agent.db"
    store = await Store.open(path=path)
    other = sqlite3.connect(path, isolation_level=None)  # as a CLI command in another process
    try:
        other.execute("BEGIN IMMEDIATE")  # holds the write lock
        write = asyncio.create_task(store.set_state("agent", "", "ns", "k", {"n": 1}))
        ticks = 0
        held_until = time.monotonic() + 0.5
        while time.monotonic() < held_until:
            await asyncio.sleep(0.01)
            ticks += 1
        assert not write.done(), "the write did not wait for the lock"
        assert ticks >= 20, f"the loop was blocked while the write waited ({ticks} ticks)"
        other.execute("COMMIT")
        await asyncio.wait_for(write, 10)
        assert await store.get_state("agent", "", "ns", "k") == {"n": 1}
        # and the connection is back to not waiting on the loop
        other.execute("BEGIN IMMEDIATE")
        read = await asyncio.wait_for(store.get_state("agent", "", "ns", "k"), 2)
        other.execute("COMMIT")
        assert read == {"n": 1}, "a read waited for the writer (WAL readers never should)"
    finally:
        other.close()
        await store.close()
