"""``patchwire check --online``: the credentials work, and act as an admin (register needs one)."""

from __future__ import annotations

from patchwire_zendesk._client import ZendeskClient
from patchwire_zendesk._definition import ZendeskConfiguration
from patchwire_zendesk._errors import ZendeskError

__all__ = ["check_online"]


async def check_online(configuration: ZendeskConfiguration) -> list[str]:
    client = ZendeskClient(configuration)
    try:
        me = (await client.request("GET", "/api/v2/users/me"))["user"]
    except ZendeskError as error:
        return [str(error)]
    finally:
        await client.close()
    if me.get("role") != "admin":
        return [
            f"the credentials act as {me.get('name')!r} (role {me.get('role')!r}); creating the "
            "webhook and triggers at register needs an admin"
        ]
    return []
