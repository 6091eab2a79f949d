"""Throwaway PostgreSQL databases for tests that need the real server.

The server is ``$PATCHWIRE_TEST_POSTGRES_URL`` (default ``postgresql://postgres@127.0.0.1:5432/
test``). Each test gets a database of its own, dropped afterwards, so tests may run in parallel.
Where no server answers the test is skipped with the reason, unless
``PATCHWIRE_REQUIRE_POSTGRES=1`` (CI), where it fails instead.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import AsyncIterator

import asyncpg  # type: ignore[import-untyped]  # no stubs shipped
import pytest

__all__ = ["POSTGRES_URL", "postgres_database"]

POSTGRES_URL = os.environ.get(
    "PATCHWIRE_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
)


@contextlib.asynccontextmanager
async def postgres_database() -> AsyncIterator[str]:
    """The URL of a fresh database on the test server, dropped when the block ends."""
    name = f"patchwire_{uuid.uuid4().hex[:12]}"
    try:
        admin = await asyncpg.connect(POSTGRES_URL, timeout=5)
    except (OSError, asyncpg.PostgresError) as error:
        if os.environ.get("PATCHWIRE_REQUIRE_POSTGRES") == "1":
            raise
        pytest.skip(f"no PostgreSQL server reachable at {POSTGRES_URL}: {error}")
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
        yield POSTGRES_URL.rsplit("/", 1)[0] + f"/{name}"
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()
