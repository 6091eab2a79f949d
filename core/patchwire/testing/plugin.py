"""The ``patchwire`` pytest plugin (entry point ``pytest11``): fixtures for testing packages.

``hitl_harness`` starts a real agent (SQLite store, the ``hitl`` plugin bound to the
integration under test, a user on an in-memory channel); it needs a ``helpdesk`` fixture (see
:mod:`patchwire.testing.hitl`). ``chromium`` is Debian's headless chromium driven by
Playwright, for testing pages; the test is skipped, saying why, where it is not installed.
Imports happen inside fixtures, so the plugin costs nothing to test suites that do not use it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from playwright.async_api import Browser

    from patchwire.testing.hitl import HitlHarness

CHROMIUM = Path("/usr/bin/chromium")


@pytest.fixture
async def hitl_harness(helpdesk: Any, tmp_path: Path) -> AsyncIterator[HitlHarness]:
    from patchwire.testing.hitl import start_harness

    harness = await start_harness(helpdesk, tmp_path, agentAssignedTimeoutSeconds=0)
    yield harness
    await harness.runtime.stop()
    await harness.runtime.store.close()


@pytest.fixture
async def chromium() -> AsyncIterator[Browser]:
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is missing: install Debian's chromium (apt-get install chromium)")
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=str(CHROMIUM),
            args=[
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
            ],
        )
        yield browser
        await browser.close()
