"""Fixtures shared by the core tests (``database_url`` and ``postgres_url``, both backends, come
from the ``patchwire`` pytest plugin)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from patchwire.store import Store


@pytest.fixture
async def store(database_url: str) -> AsyncIterator[Store]:
    opened = await Store.open(database_url)
    yield opened
    await opened.close()
