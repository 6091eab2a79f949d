"""The ``patchwire`` pytest plugin (entry point ``pytest11``): fixtures for testing packages.

``database_url`` runs a test once on a SQLite file and once on a fresh PostgreSQL database;
``postgres_url`` gives a fresh PostgreSQL database only (see :mod:`patchwire.testing.databases`).
Tests on PostgreSQL carry the ``postgres`` marker (registered here), so ``pytest -m postgres``
runs them alone: the PostgreSQL run of ``database_url``, every test using ``postgres_url``, and
tests that mark themselves with ``@pytest.mark.postgres``.

``hitl_harness`` starts a real agent (SQLite store, the ``hitl`` plugin bound to the
integration under test, a user on an in-memory channel); it needs a ``helpdesk`` fixture (see
:mod:`patchwire.testing.hitl`) and installs it under ``helpdesk_alias`` (``"desk"``; override
the fixture for another). ``hitl_harness_each_database`` is the same agent once on each
database, and ``helpdesk_routes`` an HTTP client for the helpdesk alias's routes, served as the
server mounts them on loopback. ``chromium`` is Debian's headless chromium driven by
Playwright, for testing pages; the test is skipped, saying why, where it is not installed.
Imports happen inside fixtures, so the plugin costs nothing to test suites that do not use it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    import httpx
    from playwright.async_api import Browser

    from patchwire.testing.hitl import HitlHarness

CHROMIUM = Path("/usr/bin/chromium")
POSTGRES = "postgres"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        f"{POSTGRES}: needs the PostgreSQL server at PATCHWIRE_TEST_POSTGRES_URL "
        "(skipped when unreachable, unless PATCHWIRE_REQUIRE_POSTGRES=1)",
    )


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark the tests that use ``postgres_url``, which is not parametrized to carry a mark."""
    for item in items:
        if "postgres_url" in getattr(item, "fixturenames", ()):
            item.add_marker(POSTGRES)


@pytest.fixture
def helpdesk_alias() -> str:
    """The alias the integration under test is installed under; override it to test another."""
    from patchwire.testing.hitl import HELPDESK_ALIAS

    return HELPDESK_ALIAS


@pytest.fixture
async def hitl_harness(
    helpdesk: Any, tmp_path: Path, helpdesk_alias: str
) -> AsyncIterator[HitlHarness]:
    from patchwire.testing.hitl import start_harness

    harness = await start_harness(
        helpdesk, tmp_path, alias=helpdesk_alias, agentAssignedTimeoutSeconds=0
    )
    yield harness
    await harness.close()


@pytest.fixture
async def hitl_harness_each_database(
    helpdesk: Any, tmp_path: Path, database_url: str, helpdesk_alias: str
) -> AsyncIterator[HitlHarness]:
    from patchwire.testing.hitl import start_harness

    harness = await start_harness(
        helpdesk,
        tmp_path,
        database_url=database_url,
        alias=helpdesk_alias,
        agentAssignedTimeoutSeconds=0,
    )
    yield harness
    await harness.close()


@pytest.fixture
async def helpdesk_routes(
    hitl_harness_each_database: HitlHarness,
) -> AsyncIterator[httpx.AsyncClient]:
    from patchwire.testing.loopback import serve_routes

    harness = hitl_harness_each_database
    async with serve_routes(harness.runtime, harness.alias) as http:
        yield http


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
async def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """The same test once on a SQLite file and once on a fresh PostgreSQL database."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'agent.db'}"
    else:
        from patchwire.testing.databases import postgres_database

        async with postgres_database() as url:
            yield url


@pytest.fixture
async def postgres_url() -> AsyncIterator[str]:
    from patchwire.testing.databases import postgres_database

    async with postgres_database() as url:
        yield url


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
