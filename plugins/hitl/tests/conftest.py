from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from patchwire.testing.hitl import HitlHarness, start_harness
from patchwire.testing.memory import MemoryHelpdesk

Start = Callable[..., Awaitable[HitlHarness]]


@pytest.fixture
def helpdesk() -> MemoryHelpdesk:
    return MemoryHelpdesk()


@pytest.fixture
async def harness_with(helpdesk: MemoryHelpdesk, tmp_path: Path) -> AsyncIterator[Start]:
    """Start a harness with a given plugin configuration."""
    started: list[HitlHarness] = []

    async def start(**config: Any) -> HitlHarness:
        harness = await start_harness(helpdesk, tmp_path, **config)
        started.append(harness)
        return harness

    yield start
    for harness in started:
        await harness.close()
