"""Finding or creating the Intercom contact that stands for an end user.

Order: look up by external id (users only), then search (finds leads, and a customer Intercom
already knows by email), then create. Search lags creation by minutes, so the caller caches
the contact id it gets back; a 409 on create names the existing contact, which is used.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from patchwire_intercom._client import IntercomClient, IntercomError, IntercomNotFoundError

__all__ = ["Contact", "resolve_contact"]

_EXISTING_ID = re.compile(r"id=([0-9a-f]{24})")


@dataclass(frozen=True)
class Contact:
    id: str
    role: str
    external_id: str | None


def _contact(data: dict[str, Any], fallback_role: str) -> Contact:
    external = data.get("external_id")
    return Contact(
        id=str(data["id"]),
        role=str(data.get("role") or fallback_role),
        external_id=str(external) if external else None,
    )


async def _find_by_external_id(client: IntercomClient, external_id: str) -> dict[str, Any] | None:
    try:
        found = await client.get(f"/contacts/find_by_external_id/{quote(external_id, safe='')}")
    except IntercomNotFoundError:  # 404, or 410 for a merged contact: search finds the survivor
        return None
    return found if found.get("id") else None


async def _search(
    client: IntercomClient, external_id: str, email: str | None
) -> dict[str, Any] | None:
    by_external = {"field": "external_id", "operator": "=", "value": external_id}
    query: dict[str, Any] = by_external
    if email:
        by_email = {"field": "email", "operator": "=", "value": email}
        query = {"operator": "OR", "value": [by_external, by_email]}
    answer = await client.post("/contacts/search", {"query": query})
    matches = [c for c in answer.get("data", []) if isinstance(c, dict) and c.get("id")]
    for match in matches:
        if match.get("external_id") == external_id:
            return match
    return matches[0] if matches else None


async def resolve_contact(
    client: IntercomClient,
    *,
    external_id: str,
    role: str,
    name: str,
    email: str | None = None,
    avatar: str | None = None,
) -> Contact:
    """The contact for ``external_id`` (or ``email``), created as ``role`` when none exists."""
    found = await _find_by_external_id(client, external_id)
    if found is None:
        found = await _search(client, external_id, email)
    if found is not None:
        return _contact(found, role)
    body: dict[str, Any] = {"role": role, "external_id": external_id, "name": name}
    if email:
        body["email"] = email
    if avatar:
        body["avatar"] = avatar
    try:
        created = await client.post("/contacts", body)
    except IntercomError as error:
        existing = _EXISTING_ID.search(str(error)) if error.status == 409 else None
        if existing is None:
            raise
        created = await client.get(f"/contacts/{existing.group(1)}")
    return _contact(created, role)
