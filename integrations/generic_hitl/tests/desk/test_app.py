"""The desk over real HTTP: the protocol side patchwire calls, and the page's API humans use."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from patchwire_generic_hitl import (
    HEADER,
    ServiceClient,
    ServiceError,
    sign,
)

from ..conftest import SECRET
from .conftest import FakeAgent, RunningDesk, handed_off


async def test_a_handoff_shows_in_the_queue_with_its_history(
    desk: RunningDesk, patchwire: ServiceClient
) -> None:
    remote = await handed_off(patchwire)
    [listed] = await desk.conversations()
    assert (listed["id"], listed["status"], listed["title"]) == (remote, "waiting", "Order late")
    assert listed["person"]["displayName"] == "Ada"
    history = (await desk.conversation(remote))["messages"]
    assert [(m["authorKind"], m["author"], m["type"]) for m in history] == [
        ("user", "Ada", "text"),
        ("bot", "Bot", "choice"),
    ]


async def test_unknown_people_and_conversations_are_404(
    desk: RunningDesk, patchwire: ServiceClient
) -> None:
    with pytest.raises(ServiceError, match=r"404.*no person 'ghost'"):
        await patchwire.call(
            "/createRemoteConversation",
            {"type": "createRemoteConversation", "payload": {"userId": "ghost", "messages": []}},
        )
    with pytest.raises(ServiceError, match=r"404.*no conversation 'nope'"):
        await patchwire.call(
            "/botSendsMessage",
            {
                "type": "botSendsMessage",
                "remoteConversationId": "nope",
                "remoteUserId": "BOT",
                "payload": {"type": "text", "text": "hi"},
            },
        )
    assert await desk.conversations() == []


@pytest.mark.parametrize(
    "header",
    [
        None,
        "t=1,v1=00",
        "garbage",
        sign("another-secret-of-16-chars", b'{"type":"ping"}'),
        sign(SECRET, b'{"type":"ping"}', timestamp=1_000_000),
    ],
    ids=["unsigned", "stale-and-wrong", "malformed", "forged", "stale"],
)
async def test_unsigned_forged_and_stale_calls_are_refused(
    desk: RunningDesk, header: str | None
) -> None:
    body = b'{"type":"createRemoteUser","payload":{"role":"end-user","name":"Eve"}}'
    headers = {HEADER: header} if header else {}
    response = await desk.api.post("/createRemoteUser", content=body, headers=headers)
    assert response.status_code == 401, response.text
    assert "signature" in response.json()["error"] or HEADER in response.json()["error"]


async def test_a_replayed_call_is_refused(desk: RunningDesk, patchwire: ServiceClient) -> None:
    remote = await handed_off(patchwire)
    body = json.dumps(
        {
            "type": "botSendsMessage",
            "remoteConversationId": remote,
            "remoteUserId": "BOT",
            "payload": {"type": "text", "text": "once"},
        }
    ).encode()
    headers = {HEADER: sign(SECRET, body)}
    assert (await desk.api.post("/botSendsMessage", content=body, headers=headers)).is_success
    replay = await desk.api.post("/botSendsMessage", content=body, headers=headers)
    assert replay.status_code == 401 and "replayed" in replay.text
    texts = [m["payload"].get("text") for m in (await desk.conversation(remote))["messages"]]
    assert texts.count("once") == 1


async def test_claim_reply_close_reach_the_agent_in_the_protocol(
    desk: RunningDesk, patchwire: ServiceClient, agent: FakeAgent
) -> None:
    remote = await handed_off(patchwire)
    assert (await desk.act(remote, "claim", agent="Alice")).status_code == 200
    for body in (
        {"type": "text", "text": "Hello, I am Alice"},
        {"type": "image", "url": "https://example.com/label.png"},
        {"type": "file", "url": "https://example.com/invoice.pdf", "title": "invoice.pdf"},
    ):
        response = await desk.act(remote, "messages", agent="Alice", **body)
        assert response.status_code == 200, response.text
    assert (await desk.act(remote, "close", agent="Alice")).status_code == 200
    assert [path for path, _ in agent.calls] == [
        "agent-assigned",
        "message-from-agent",
        "message-from-agent",
        "message-from-agent",
        "stop-hitl",
    ]
    assert agent.calls[0][1] == {
        "remoteConversationId": remote,
        "remoteUserId": "agent:Alice",
        "name": "Alice",
    }
    assert [body["payload"] for path, body in agent.calls[1:4]] == [
        {"text": "Hello, I am Alice"},
        {"imageUrl": "https://example.com/label.png"},
        {"fileUrl": "https://example.com/invoice.pdf", "title": "invoice.pdf"},
    ]
    assert (await desk.conversation(remote))["status"] == "closed"


async def test_the_desk_keeps_agents_to_their_own_conversations(
    desk: RunningDesk, patchwire: ServiceClient, agent: FakeAgent
) -> None:
    remote = await handed_off(patchwire)
    early = await desk.act(remote, "messages", agent="Alice", type="text", text="hi")
    assert (early.status_code, early.json()["error"]) == (
        409,
        "claim the conversation first (nobody has claimed it)",
    )
    assert (await desk.act(remote, "claim", agent="Alice")).status_code == 200
    taken = await desk.act(remote, "claim", agent="Bob")
    assert (taken.status_code, taken.json()["error"]) == (409, "already claimed by Alice")
    empty = await desk.act(remote, "messages", agent="Alice", type="text", text="  ")
    assert (empty.status_code, empty.json()["error"]) == (400, "a text reply needs some text")
    bad_url = await desk.act(remote, "messages", agent="Alice", type="image", url="file:///x")
    assert bad_url.status_code == 400 and "http(s) URL" in bad_url.json()["error"]
    unknown = await desk.act(remote, "messages", agent="Alice", type="sticker", text="x")
    assert unknown.status_code == 400 and "type" in unknown.json()["error"]
    assert [path for path, _ in agent.calls] == ["agent-assigned"]


async def test_an_agent_that_is_down_loses_nothing(
    desk: RunningDesk, patchwire: ServiceClient, agent: FakeAgent
) -> None:
    remote = await handed_off(patchwire)
    agent.down = True
    refused = await desk.act(remote, "claim", agent="Alice")
    assert refused.status_code == 502 and "kept failing" in refused.json()["error"]
    assert (await desk.conversation(remote))["status"] == "waiting"
    agent.down = False
    assert (await desk.act(remote, "claim", agent="Alice")).status_code == 200
    agent.down = True
    failed = await desk.act(remote, "messages", agent="Alice", type="text", text="are you there?")
    assert failed.status_code == 502
    [message] = [
        m for m in (await desk.conversation(remote))["messages"] if m["authorKind"] == "agent"
    ]
    assert message["delivery"] == "failed" and "503" in message["error"]
    agent.down = False
    again = await desk.redeliver(message["id"], agent="Alice")
    assert again.status_code == 200, again.text
    [message] = [
        m for m in (await desk.conversation(remote))["messages"] if m["authorKind"] == "agent"
    ]
    assert message["delivery"] == "delivered" and message["error"] is None
    sent = [body for path, body in agent.calls if path == "message-from-agent"]
    assert [body["messageId"] for body in sent] == [message["id"]]


async def test_pages_hear_of_every_change(desk: RunningDesk, patchwire: ServiceClient) -> None:
    notices: list[dict[str, Any]] = []

    client = await desk.agent("Alice")

    async def listen() -> None:
        async with client.stream("GET", "/api/events") as stream:
            async for line in stream.aiter_lines():
                if line.startswith("data: "):
                    notices.append(json.loads(line.removeprefix("data: ")))
                    return

    listener = asyncio.create_task(listen())
    await asyncio.sleep(0.2)
    remote = await handed_off(patchwire)
    await asyncio.wait_for(listener, 5)
    assert notices == [{"conversationId": remote}]


async def test_the_page_sends_strangers_to_the_login_page(desk: RunningDesk) -> None:
    response = await desk.api.get("/")
    assert (response.status_code, response.headers["location"]) == (303, "login")
    login = await desk.api.get("/login")
    assert login.status_code == 200 and "<title>Log in · Agent desk</title>" in login.text
    assert "default-src 'self'" in login.headers["content-security-policy"]
    assert login.headers["x-frame-options"] == "DENY"


@pytest.mark.parametrize("signed", [False, True], ids=["forged", "signed"])
@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
async def test_an_oversized_body_is_413_and_stores_nothing(
    desk: RunningDesk, patchwire: ServiceClient, signed: bool, chunked: bool
) -> None:
    remote = await handed_off(patchwire)
    body = json.dumps(
        {
            "type": "botSendsMessage",
            "remoteConversationId": remote,
            "remoteUserId": "BOT",
            "payload": {"type": "text", "text": "x" * (2 * 1024 * 1024)},
        }
    ).encode()
    headers = {HEADER: sign(SECRET, body) if signed else "t=1,v1=00"}

    sent: list[int] = []

    async def pieces() -> AsyncIterator[bytes]:
        for start in range(0, len(body), 64 * 1024):
            sent.append(1)
            yield body[start : start + 64 * 1024]

    content: bytes | AsyncIterator[bytes] = pieces() if chunked else body
    try:
        response = await desk.api.post("/botSendsMessage", content=content, headers=headers)
        assert response.status_code == 413, response.text
    except httpx.TransportError:
        assert chunked, "the desk may close before a chunked upload is all written"
    if chunked:
        assert len(sent) < len(body) // (64 * 1024), "the desk read the whole body"
    messages = (await desk.conversation(remote))["messages"]
    assert [m["payload"].get("text", "")[:5] for m in messages] == ["where", "Pick "]
