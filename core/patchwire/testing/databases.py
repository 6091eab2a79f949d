"""Fresh databases for tests, on SQLite and on the PostgreSQL test server.

The server is ``$PATCHWIRE_TEST_POSTGRES_URL``; when it does not answer, a test that needs it
is skipped with the reason, unless ``PATCHWIRE_REQUIRE_POSTGRES=1`` (CI) makes that a failure.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator

import asyncpg  # type: ignore[import-untyped]
import pytest

__all__ = ["POSTGRES_URL", "postgres_database"]

POSTGRES_URL = os.environ.get(
    "PATCHWIRE_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
)


async def postgres_database() -> AsyncIterator[str]:
    """The URL of a fresh database on the test server, dropped afterwards."""
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
