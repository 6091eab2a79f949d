"""Inbound hardening over real HTTP: re-spelt and restarted replays, bad input, oversized bodies.

Every request here goes through the server's own mounts (``webhook_mounts``) on loopback, on
SQLite and on PostgreSQL.
"""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from patchwire.runtime import Runtime
from patchwire.store import Store
from patchwire.testing.hitl import HELPDESK_ALIAS, HitlHarness
from patchwire.testing.loopback import serve_routes
from patchwire_generic_hitl import HEADER, sign

from .conftest import SECRET, FakeService

TEXT = "from agent: only once"


@pytest.fixture
def harness(hitl_harness_each_database: HitlHarness) -> HitlHarness:
    return hitl_harness_each_database


async def session(harness: HitlHarness, service: FakeService) -> str:
    await harness.say("/starthitl")
    [remote] = list(service.conversations)
    return remote


def agent_message(remote: str, **overrides: Any) -> bytes:
    body = {
        "remoteConversationId": remote,
        "remoteUserId": "agent-Alice",
        "messageType": "text",
        "payload": {"text": TEXT},
        **overrides,
    }
    return json.dumps(body).encode()


def respellings(header: str) -> list[str]:
    """The issue's re-spellings of one ``t=...,v1=...`` header, and the MAC in capitals (HTTP
    itself trims spaces around a header value, so those never reach the agent)."""
    t, v1 = (part.split("=", 1)[1] for part in header.split(","))
    return [
        f"t=0{t},v1={v1}",
        f"t=+{t},v1={v1}",
        f"v1={v1},t={t}",
        f"t={t},v1={v1},",
        f"t={t},v1={v1},v0=00",
        f"t={t}, v1={v1}",
        f"t={t},t={t},v1={v1}",
        f"t={t},v1={v1.upper()}",
    ]


async def test_every_respelling_of_one_signature_is_accepted_once(
    harness: HitlHarness, service: FakeService
) -> None:
    remote = await session(harness, service)
    raw = agent_message(remote)  # no messageId: only the signature tells a replay
    header = sign(SECRET, raw)
    async with serve_routes(harness.runtime, HELPDESK_ALIAS) as agent:
        answers = [
            await agent.post("/message-from-agent", content=raw, headers={HEADER: spelling})
            for spelling in [*respellings(header), header]
        ]
    codes = [answer.status_code for answer in answers]
    assert codes.count(200) == 1 and codes.count(401) == len(codes) - 1, codes
    reasons = {
        answer.json()["error"].split(":")[0] for answer in answers if answer.status_code == 401
    }
    assert reasons <= {
        "malformed X-Patchwire-Signature header",
        "the signature in X-Patchwire-Signature does not match the body and the shared secret",
        "this signature was used already (a replayed request)",
    }, reasons
    await harness.settle()
    assert (await harness.user_sees()).count(TEXT) == 1


async def test_an_exact_replay_after_the_agent_restarts_is_refused(
    harness: HitlHarness, service: FakeService, database_url: str
) -> None:
    remote = await session(harness, service)
    raw = agent_message(remote)
    header = {HEADER: sign(SECRET, raw)}
    async with serve_routes(harness.runtime, HELPDESK_ALIAS) as agent:
        assert (
            await agent.post("/message-from-agent", content=raw, headers=header)
        ).status_code == 200
    await harness.settle()
    # Another process on the same database: what a restart (or a second worker) sees.
    store = await Store.open(database_url)
    restarted = await Runtime.start(harness.runtime.agent, store=store, code=harness.runtime.code)
    try:
        async with serve_routes(restarted, HELPDESK_ALIAS) as agent:
            replayed = await agent.post("/message-from-agent", content=raw, headers=header)
        assert replayed.status_code == 401
        assert replayed.json()["error"] == "this signature was used already (a replayed request)"
        await restarted.process_pending()
    finally:
        await restarted.stop()
        await store.close()
    await harness.settle()
    assert (await harness.user_sees()).count(TEXT) == 1


def bad_inputs(remote: str) -> list[tuple[str, bytes, int, str]]:
    """``(route, body, status, reason)``: every body signed correctly, each wrong another way."""
    long_id = "x" * 400
    return [
        ("/message-from-agent", b"", 400, "Invalid JSON"),
        ("/message-from-agent", b"\xff\xfe", 400, "Invalid JSON"),
        ("/message-from-agent", b"[1, 2]", 400, "Input should be an object"),
        ("/message-from-agent", b"null", 400, "Input should be an object"),
        ("/message-from-agent", b'{"remoteConversationId": 7}', 400, "remoteConversationId"),
        ("/message-from-agent", agent_message(remote, messageId=long_id), 400, "messageId"),
        ("/message-from-agent", agent_message("r" * 600), 400, "remoteConversationId"),
        ("/message-from-agent", agent_message(remote, remoteUserId="u" * 600), 400, "remoteUserId"),
        ("/message-from-agent", agent_message(remote, messageType="hologram"), 400, "hologram"),
        ("/message-from-agent", agent_message(remote, payload={"text": 5}), 400, "text"),
        ("/message-from-agent", agent_message(remote, payload={}), 400, "text"),
        ("/message-from-agent", agent_message(remote, payload=[1]), 400, "payload"),
        ("/message-from-agent", agent_message("rc-unknown"), 404, "unknown remoteConversationId"),
        ("/agent-assigned", b"{}", 400, "remoteConversationId"),
        (
            "/agent-assigned",
            json.dumps(
                {"remoteConversationId": remote, "remoteUserId": "a", "name": "n" * 600}
            ).encode(),
            400,
            "name",
        ),
        (
            "/agent-assigned",
            json.dumps({"remoteConversationId": remote}).encode(),
            400,
            "remoteUserId",
        ),
        ("/stop-hitl", b"{", 400, "Invalid JSON"),
        ("/stop-hitl", b"[" * 100_000, 400, "recursion limit exceeded"),
        (
            "/stop-hitl",
            json.dumps({"remoteConversationId": ""}).encode(),
            400,
            "remoteConversationId",
        ),
        ("/nowhere", b"{}", 404, "serves no such route"),
    ]


async def test_bad_input_on_every_route_is_a_4xx_that_says_why(
    harness: HitlHarness, service: FakeService
) -> None:
    remote = await session(harness, service)
    before = await harness.user_sees()
    async with serve_routes(harness.runtime, HELPDESK_ALIAS) as agent:
        for route, raw, status, reason in bad_inputs(remote):
            answer = await agent.post(route, content=raw, headers={HEADER: sign(SECRET, raw)})
            assert (answer.status_code, route) == (status, route), (raw[:80], answer.text)
            assert reason in answer.json()["error"], (raw[:80], answer.text)
        wrong_method = await agent.get("/stop-hitl")
        assert wrong_method.status_code == 405
    await harness.settle()
    assert await harness.user_sees() == before, "nothing bad reached the user"


async def test_an_oversized_body_is_a_413_signed_or_not(
    harness: HitlHarness, service: FakeService
) -> None:
    remote = await session(harness, service)
    big = agent_message(remote, payload={"text": "x" * (2 * 1024 * 1024)})
    async with serve_routes(harness.runtime, HELPDESK_ALIAS) as agent:
        forged_header = {HEADER: f"t={int(time.time())},v1=0"}
        forged = await agent.post("/message-from-agent", content=big, headers=forged_header)
        signed = await agent.post(
            "/message-from-agent", content=big, headers={HEADER: sign(SECRET, big)}
        )
        unsigned = await agent.post("/stop-hitl", content=big, headers={})
    assert [r.status_code for r in (forged, signed, unsigned)] == [413] * 3
    assert "larger than 1048576 bytes" in signed.json()["error"]
    await harness.settle()
    assert not any(text.startswith("x" * 100) for text in await harness.user_sees())
