"""Loading an agent folder into a running runtime, and closing it again."""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from pathlib import Path

from patchwire._config import load_config
from patchwire._discovery import Catalog
from patchwire._resolved import ResolvedAgent
from patchwire._resolver import resolve
from patchwire.runtime import Runtime, load_agent_code
from patchwire.store import Store

__all__ = ["DATABASE_ENV", "PUBLIC_URL_ENV", "LoadedAgent", "database_url_for", "open_agent"]

DATABASE_ENV = "PATCHWIRE_DATABASE_URL"
PUBLIC_URL_ENV = "PATCHWIRE_PUBLIC_URL"
"""Set by ``serve --public-url``: it wins over agent.toml's ``public_url``, in every worker."""


def database_url_for(agent: ResolvedAgent, override: str | None = None) -> str:
    """``override``, else ``$PATCHWIRE_DATABASE_URL``, else agent.toml's, else a SQLite file."""
    chosen = override or os.environ.get(DATABASE_ENV) or agent.database_url
    if chosen:
        return chosen
    directory = agent.directory or Path.cwd()
    return f"sqlite:///{directory / '.patchwire' / 'agent.db'}"


@dataclass
class LoadedAgent:
    runtime: Runtime
    store: Store

    async def close(self) -> None:
        await self.runtime.stop()
        await self.store.close()


async def open_agent(
    path: Path, *, database_url: str | None = None, catalog: Catalog | None = None
) -> LoadedAgent:
    """Resolve the agent at ``path``, open its store, import its code, start its runtime.

    ``catalog`` replaces the installed packages (tests and benchmarks serve in-memory ones).
    """
    agent = resolve(load_config(path), catalog)
    if os.environ.get(PUBLIC_URL_ENV):
        agent = dataclasses.replace(agent, public_url=os.environ[PUBLIC_URL_ENV].rstrip("/"))
    code = load_agent_code(agent.module) if agent.module is not None else None
    store = await Store.open(database_url_for(agent, database_url))
    try:
        runtime = await Runtime.start(agent, store=store, code=code)
    except BaseException:
        await store.close()
        raise
    return LoadedAgent(runtime, store)
