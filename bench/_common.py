"""What the benchmarks share: ports, databases, server CPU time and the durable floor's write.

Imported by the scripts beside it (``python bench/<script>.py`` puts this folder on the path).
"""

from __future__ import annotations

import asyncio
import os
import tempfile
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

POSTGRES_URL = os.environ.get(
    "PATCHWIRE_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
)


def free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time of a process so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def database_for(kind: str) -> tuple[str, Any]:
    """A fresh database of ``kind`` (``sqlite`` or ``postgresql``) and what drops it."""
    if kind == "sqlite":
        directory = tempfile.mkdtemp(prefix="pw-bench-")
        return f"sqlite:///{directory}/agent.db", None
    import asyncpg

    name = f"pw_bench_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(POSTGRES_URL)
    await admin.execute(f'CREATE DATABASE "{name}"')
    return POSTGRES_URL.rsplit("/", 1)[0] + f"/{name}", (admin, name)


async def drop_database(cleanup: Any) -> None:
    if cleanup is not None:
        admin, name = cleanup
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


class DurableFloor:
    """The physics of a durable exchange: a message and its reply in one SQLite transaction.

    WAL with ``synchronous=NORMAL`` as our store, through aiosqlite, one connection and one
    transaction at a time (as our store's pool): what a bare endpoint must at least do to keep
    both before the reply leaves.
    """

    def __init__(self, path: str) -> None:
        self.path = path
        self.lock = asyncio.Lock()
        self.db: Any = None

    async def open(self) -> None:
        import aiosqlite

        self.db = await aiosqlite.connect(self.path, isolation_level=None)
        await self.db.execute("PRAGMA journal_mode=WAL")
        await self.db.execute("PRAGMA synchronous=NORMAL")
        await self.db.execute(
            "CREATE TABLE IF NOT EXISTS messages (id TEXT PRIMARY KEY, conversation TEXT, "
            "direction TEXT, text TEXT, created_at TEXT)"
        )

    async def store_exchange(self, conversation: str, text: str, reply: str) -> None:
        now = datetime.now(UTC).isoformat()
        async with self.lock:
            await self.db.execute("BEGIN IMMEDIATE")
            await self.db.execute(
                "INSERT INTO messages VALUES (?, ?, 'incoming', ?, ?)",
                (uuid.uuid4().hex, conversation, text, now),
            )
            await self.db.execute(
                "INSERT INTO messages VALUES (?, ?, 'outgoing', ?, ?)",
                (uuid.uuid4().hex, conversation, reply, now),
            )
            await self.db.execute("COMMIT")
