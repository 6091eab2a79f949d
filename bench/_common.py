"""What the benchmarks share: ports, databases, a server's cost and the durable floor's write.

Imported by the scripts beside it (``python bench/<script>.py`` puts this folder on the path).

A server's cost over a stretch of a bench is its CPU time (``/proc``), and with
``PW_BENCH_INSTRUCTIONS=1`` also the instructions it ran, counted by valgrind's callgrind: the
servers start under valgrind, instrumented only while measured. Instructions do not move with
what the machine's neighbours do (seconds move by a quarter or more on a shared machine), so they
are what to compare across runs, N or commits; under valgrind a server runs about 100 times
slower, so its rates and latencies mean nothing then.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
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


def profile(pid: int, seconds: int = 25) -> None:
    """With ``PW_BENCH_PROFILE=FILE``, record process ``pid`` with py-spy (raw folded stacks).

    py-spy is looked up beside this Python first (a venv's ``bin``), then on ``PATH``.
    """
    output = os.environ.get("PW_BENCH_PROFILE")
    if not output:
        return
    beside = Path(sys.executable).with_name("py-spy")
    program = str(beside) if beside.exists() else shutil.which("py-spy")
    if program is None:
        raise SystemExit("PW_BENCH_PROFILE needs py-spy: pip install py-spy")
    command = [program, "record", "-p", str(pid), "-o", output, "-f", "raw", "-d", str(seconds)]
    subprocess.Popen(command)


COUNT_INSTRUCTIONS = os.environ.get("PW_BENCH_INSTRUCTIONS") == "1"
_CALLGRIND = Path(tempfile.gettempdir()) / "pw-bench-callgrind"


def server_command(script: str, *arguments: str) -> list[str]:
    """The command line of a bench script's server process (under callgrind when counting)."""
    command = [sys.executable, script, *arguments]
    if not COUNT_INSTRUCTIONS:
        return command
    if shutil.which("valgrind") is None:
        raise SystemExit("PW_BENCH_INSTRUCTIONS=1 needs valgrind: apt-get install valgrind")
    _CALLGRIND.mkdir(exist_ok=True)
    return [
        "valgrind",
        "--tool=callgrind",
        "--instr-atstart=no",
        "--dump-instr=no",
        f"--callgrind-out-file={_CALLGRIND}/callgrind.out.%p",
        "--log-file=/dev/null",
        *command,
    ]


_INSTRUMENTED: set[int] = set()
"""Processes whose instrumentation is on: it stays on once turned on (turning it off and on
again inside one process made callgrind's totals wrap below zero), and counters are zeroed at
each start instead."""


class Meter:
    """What server process ``pid`` spends between :meth:`start` and :meth:`stop`."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self._cpu = 0.0

    def start(self) -> None:
        if COUNT_INSTRUCTIONS:
            if self.pid in _INSTRUMENTED:
                self._control("--zero")
            else:
                self._control("--instr=on")
                _INSTRUMENTED.add(self.pid)
        self._cpu = cpu_seconds(self.pid)

    def stop(self, messages: int) -> tuple[float, float | None]:
        """CPU ms per message, and millions of instructions per message when counting."""
        cpu = (cpu_seconds(self.pid) - self._cpu) * 1000 / messages
        if not COUNT_INSTRUCTIONS:
            return cpu, None
        self._control("--dump")
        return cpu, self._dumped() / 1e6 / messages

    def _control(self, option: str) -> None:
        subprocess.run(
            ["callgrind_control", option, str(self.pid)], check=True, capture_output=True
        )

    def _dumped(self) -> int:
        """Instructions in the newest dump of this process (``summary:`` of its dump file)."""
        dumps = _CALLGRIND.glob(f"callgrind.out.{self.pid}.*")
        newest = max(dumps, key=lambda dump: dump.stat().st_mtime)
        summary = [line for line in newest.read_text().splitlines() if line.startswith("summary:")]
        if not summary:
            raise RuntimeError(f"{newest} has no summary line")
        newest.unlink()
        return int(summary[0].split()[1])


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
    """The physics of a durable exchange: a message and its reply in one transaction.

    ``database`` is a SQLite file path or a ``postgresql://`` URL. SQLite: WAL with
    ``synchronous=NORMAL`` as our store, through aiosqlite, one connection and one transaction
    at a time (as our store's pool). PostgreSQL: asyncpg, a pool of 10 connections (as our
    store's), ``BEGIN``, two ``INSERT`` and ``COMMIT`` per exchange. What a bare endpoint must at
    least do to keep both before the reply leaves.
    """

    _TABLE = (
        "CREATE TABLE IF NOT EXISTS messages (id TEXT PRIMARY KEY, conversation TEXT, "
        "direction TEXT, text TEXT, created_at TEXT)"
    )

    def __init__(self, database: str) -> None:
        self.database = database
        self.postgresql = database.startswith("postgresql")
        self.lock = asyncio.Lock()
        self.db: Any = None

    @property
    def label(self) -> str:
        return "PostgreSQL" if self.postgresql else "SQLite"

    async def open(self) -> None:
        if self.postgresql:
            import asyncpg

            self.db = await asyncpg.create_pool(self.database, min_size=10, max_size=10)
            await self.db.execute(self._TABLE)
            return
        import aiosqlite

        self.db = await aiosqlite.connect(self.database, isolation_level=None)
        await self.db.execute("PRAGMA journal_mode=WAL")
        await self.db.execute("PRAGMA synchronous=NORMAL")
        await self.db.execute(self._TABLE)

    async def store_exchange(self, conversation: str, text: str, reply: str) -> None:
        now = datetime.now(UTC).isoformat()
        incoming = (uuid.uuid4().hex, conversation, text, now)
        outgoing = (uuid.uuid4().hex, conversation, reply, now)
        if self.postgresql:
            insert = "INSERT INTO messages VALUES ($1, $2, $3, $4, $5)"
            async with self.db.acquire() as connection, connection.transaction():
                await connection.execute(insert, *incoming[:2], "incoming", *incoming[2:])
                await connection.execute(insert, *outgoing[:2], "outgoing", *outgoing[2:])
            return
        async with self.lock:
            await self.db.execute("BEGIN IMMEDIATE")
            await self.db.execute("INSERT INTO messages VALUES (?, ?, 'incoming', ?, ?)", incoming)
            await self.db.execute("INSERT INTO messages VALUES (?, ?, 'outgoing', ?, ?)", outgoing)
            await self.db.execute("COMMIT")
