"""``patchwire check --online``: each integration asks its outside system if the config works."""

from __future__ import annotations

import asyncio

from pydantic import BaseModel

from patchwire._packages import Integration
from patchwire._problems import Problem
from patchwire._resolved import ResolvedAgent

__all__ = ["ONLINE_TIMEOUT_SECONDS", "check_online"]

ONLINE_TIMEOUT_SECONDS = 30.0


async def _one(alias: str, integration: Integration, configuration: BaseModel) -> list[Problem]:
    assert integration.online_check is not None
    location = f"integrations.{alias}"
    try:
        found = await asyncio.wait_for(
            integration.online_check(configuration), ONLINE_TIMEOUT_SECONDS
        )
    except TimeoutError:
        found = [f"no answer within {ONLINE_TIMEOUT_SECONDS:.0f} s"]
    except Exception as error:
        found = [f"the check failed: {type(error).__name__}: {error}"]
    return [Problem("online", location, message) for message in found]


async def check_online(agent: ResolvedAgent) -> list[Problem]:
    """Every integration's online problems, the checks run concurrently."""
    checks = [
        _one(alias, entry.package, entry.config)
        for alias, entry in agent.integrations.items()
        if isinstance(entry.package, Integration) and entry.package.online_check is not None
    ]
    results = await asyncio.gather(*checks)
    return [problem for problems in results for problem in problems]
