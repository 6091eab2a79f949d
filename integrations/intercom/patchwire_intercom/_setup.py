"""Setting up and checking an Intercom app from patchwire's side.

Intercom's API cannot subscribe webhooks (only the Developer Hub can), so registering prints
what to set there; :func:`verify_online` checks the token and the bot admin against Intercom.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import httpx
from pydantic import ValidationError

from patchwire import Context, format_validation_error
from patchwire_intercom._client import IntercomAuthError, IntercomClient, IntercomError
from patchwire_intercom._definition import IntercomConfiguration
from patchwire_intercom._webhook import TOPICS

__all__ = ["register", "setup_instructions", "verify_online"]


def setup_instructions(alias: str, webhook_url: str | None = None) -> str:
    """What to set in the Developer Hub for integration ``alias`` to receive notifications
    (``webhook_url``: the alias's public webhook URL, when the agent's public URL is known)."""
    topics = "\n".join(f"       {topic}" for topic in TOPICS)
    endpoint = (
        f"    endpoint URL: {webhook_url}\n"
        if webhook_url is not None
        else f"    endpoint URL: this server's public HTTPS address + /webhooks/{alias}\n"
        f"      (set public_url in agent.toml to have it printed here; the local address is "
        f"printed below as '{alias}: ...')\n"
    )
    return (
        f"Intercom ({alias}): webhooks are set in Intercom's Developer Hub, not by patchwire.\n"
        "  In Developer Hub > your app > Webhooks:\n"
        f"{endpoint}"
        f"    topics to subscribe (exactly these):\n{topics}\n"
        "  The app's client secret (Basic information) must be this integration's clientSecret."
    )


def _configuration(value: IntercomConfiguration | Mapping[str, Any]) -> IntercomConfiguration:
    if isinstance(value, IntercomConfiguration):
        return value
    return IntercomConfiguration.model_validate(dict(value))


async def verify_online(
    configuration: IntercomConfiguration | Mapping[str, Any],
    *,
    label: str = "intercom",
    transport: httpx.AsyncBaseTransport | None = None,
) -> list[str]:
    """Every problem with the token, region and bot admin; empty when Intercom accepts them."""
    try:
        config = _configuration(configuration)
    except ValidationError as error:
        return [f"configuration: {format_validation_error(error)}"]
    client = IntercomClient(config, label=label, transport=transport)
    try:
        return await _problems(client, config)
    finally:
        await client.close()


async def _problems(client: IntercomClient, config: IntercomConfiguration) -> list[str]:
    try:
        me = await client.get("/me")
    except IntercomAuthError as error:
        return [str(error)]
    except IntercomError as error:
        return [f"cannot use Intercom at {config.api_url}: {error}"]
    problems: list[str] = []
    region = str((me.get("app") or {}).get("region") or "").lower()
    if config.base_url is None and region and region != config.region:
        problems.append(
            f"region is {config.region!r} but the workspace is hosted in {region!r}: "
            f"set region = {region!r}"
        )
    if config.bot_admin_id is None:
        if not me.get("id"):
            problems.append("GET /me names no admin: set botAdminId to an admin's id")
        return problems
    try:
        admin = await client.get(f"/admins/{config.bot_admin_id}")
    except IntercomError as error:
        problems.append(f"botAdminId {config.bot_admin_id!r} cannot be used: {error}")
    else:
        if admin.get("type") not in (None, "admin"):
            problems.append(f"botAdminId {config.bot_admin_id!r} is not an admin")
    return problems


async def register(ctx: Context[IntercomConfiguration]) -> None:
    """``patchwire serve``'s start: say what to subscribe, and fail fast on a bad token."""
    print(setup_instructions(ctx.alias, ctx.webhook_url), flush=True)
    problems = await verify_online(ctx.configuration, label=ctx.alias)
    if problems:
        raise IntercomError("; ".join(problems))
