"""Concurrent Chat API calls on the real runtime and store: nothing lost, nothing doubled.

Two agent servers share one database (as two processes behind a load balancer would), on
SQLite and on PostgreSQL; every burst alternates between them.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from itertools import cycle
from pathlib import Path
from typing import Any

import httpx
import pytest

from patchwire.server import create_app
from patchwire.testing.loopback import LoopbackServer

BURST = 20

AGENT_TOML = """\
name = "race-agent"

[integrations.chat]
version = "chat@latest"
"""

AGENT_PY = """\
from patchwire import Conversation, MessageContext


async def quiet(ctx: MessageContext) -> None:
    return None


conversation = Conversation(channel="chat.channel", handler=quiet)
"""


@pytest.fixture
async def servers(tmp_path: Path, database_url: str) -> AsyncIterator[list[httpx.AsyncClient]]:
    (tmp_path / "agent.toml").write_text(AGENT_TOML)
    (tmp_path / "agent.py").write_text(AGENT_PY)
    first = LoopbackServer(create_app(tmp_path, database_url=database_url))
    second = LoopbackServer(create_app(tmp_path, database_url=database_url))
    async with first, second:
        clients = [
            httpx.AsyncClient(base_url=f"{server.url}/webhooks/chat", timeout=30)
            for server in (first, second)
        ]
        try:
            yield clients
        finally:
            for client in clients:
                await client.aclose()


async def burst(
    servers: list[httpx.AsyncClient], method: str, path: str, bodies: list[Any], **kw: Any
) -> list[httpx.Response]:
    """The requests all at once, alternating between the two servers."""
    calls = [
        client.request(method, path, json=body, **kw)
        for client, body in zip(cycle(servers), bodies, strict=False)
    ]
    return list(await asyncio.gather(*calls))


def statuses(responses: list[httpx.Response]) -> list[int]:
    return sorted(response.status_code for response in responses)


async def test_parallel_first_users_all_get_keys_that_work_on_every_server(
    servers: list[httpx.AsyncClient],
) -> None:
    created = await burst(servers, "POST", "/users", [{} for _ in range(BURST)])
    assert statuses(created) == [200] * BURST
    keys = [response.json()["key"] for response in created]
    ids = {response.json()["user"]["id"] for response in created}
    assert len(ids) == BURST
    checks = [
        client.get("/users/me", headers={"x-user-key": key}) for key in keys for client in servers
    ]
    answers = await asyncio.gather(*checks)
    assert [answer.status_code for answer in answers] == [200] * (2 * BURST)


async def test_one_user_per_chosen_id(servers: list[httpx.AsyncClient]) -> None:
    created = await burst(servers, "POST", "/users", [{"id": "ada"} for _ in range(BURST)])
    assert statuses(created) == [200] + [409] * (BURST - 1)
    refused = [r.json() for r in created if r.status_code == 409]
    assert {body["type"] for body in refused} == {"AlreadyExists"}
    (winner,) = [r.json() for r in created if r.status_code == 200]
    me = await servers[1].get("/users/me", headers={"x-user-key": winner["key"]})
    assert me.json()["user"]["id"] == "ada"


async def test_one_conversation_per_chosen_id(servers: list[httpx.AsyncClient]) -> None:
    keys = [
        {"x-user-key": r.json()["key"]}
        for r in await burst(servers, "POST", "/users", [{} for _ in range(BURST)])
    ]
    calls = [
        client.post("/conversations", json={"id": "shared"}, headers=key)
        for client, key in zip(cycle(servers), keys, strict=False)
    ]
    created = list(await asyncio.gather(*calls))
    assert statuses(created) == [200] + [409] * (BURST - 1)
    (winner,) = [keys[i] for i, r in enumerate(created) if r.status_code == 200]
    participants = await servers[0].get("/conversations/shared/participants", headers=winner)
    assert len(participants.json()["participants"]) == 1
    for key in keys:
        if key != winner:
            denied = await servers[1].get("/conversations/shared", headers=key)
            assert denied.status_code == 403


async def test_parallel_joins_and_leaves_are_all_kept(servers: list[httpx.AsyncClient]) -> None:
    owner = await servers[0].post("/users", json={"id": "owner"})
    owner_key = {"x-user-key": owner.json()["key"]}
    guests = [f"guest-{n:02d}" for n in range(BURST)]
    await burst(servers, "POST", "/users", [{"id": guest} for guest in guests])
    await servers[0].post("/conversations", json={"id": "room"}, headers=owner_key)
    base = "/conversations/room/participants"
    added = await burst(
        servers, "POST", base, [{"userId": guest} for guest in guests], headers=owner_key
    )
    assert statuses(added) == [200] * BURST
    assert await participant_ids(servers[1], base, owner_key) == {"owner", *guests}

    leaving, joining = guests[: BURST // 2], [f"late-{n:02d}" for n in range(BURST // 2)]
    await burst(servers, "POST", "/users", [{"id": late} for late in joining])
    changes = [
        client.delete(f"{base}/{guest}", headers=owner_key)
        for client, guest in zip(cycle(servers), leaving, strict=False)
    ] + [
        client.post(base, json={"userId": late}, headers=owner_key)
        for client, late in zip(cycle(servers), joining, strict=False)
    ]
    answers = await asyncio.gather(*changes)
    assert [answer.status_code for answer in answers] == [200] * BURST
    expected = {"owner", *guests[BURST // 2 :], *joining}
    assert await participant_ids(servers[0], base, owner_key) == expected


async def participant_ids(client: httpx.AsyncClient, base: str, key: dict[str, str]) -> set[str]:
    found: list[str] = []
    token: str | None = None
    while True:
        page = await client.get(base, params={"nextToken": token} if token else {}, headers=key)
        body = page.json()
        found += [participant["id"] for participant in body["participants"]]
        token = body["meta"].get("nextToken")
        if token is None:
            break
    assert len(found) == len(set(found)), "a participant is listed twice"
    return set(found)
