"""Every desk route answers bad input with a 4xx and the reason, never a 5xx, on both databases.

Over-long values are the case that differs: SQLite stores them, PostgreSQL refuses them with
an error; the desk checks them against its columns first.
"""

from __future__ import annotations

import itertools
import json
import time
from typing import Any

import pytest

from patchwire_generic_hitl import HEADER, ServiceClient, sign
from patchwire_generic_hitl.desk import DeskSettings

from ..conftest import SECRET
from .conftest import FakeAgent, RunningDesk, handed_off

LONG_ID = "c" * 400
_stamps = itertools.count(int(time.time()), -1)


@pytest.fixture
def desk_settings(settings_on_both_databases: DeskSettings) -> DeskSettings:
    return settings_on_both_databases


def bot_message(remote: str, payload: Any) -> dict[str, Any]:
    return {
        "type": "botSendsMessage",
        "remoteConversationId": remote,
        "remoteUserId": "BOT",
        "payload": payload,
    }


PROTOCOL_CASES: list[tuple[str, Any, int, str]] = [
    ("createRemoteUser", b"{", 400, "malformed body"),
    ("createRemoteUser", [], 400, "malformed body"),
    ("createRemoteUser", {"type": "createRemoteUser"}, 400, "payload"),
    ("createRemoteUser", {"payload": {"role": "end-user", "name": ""}}, 400, "payload.name"),
    ("createRemoteUser", {"payload": {"name": "n" * 501}}, 400, "payload.name"),
    ("createRemoteUser", {"payload": {"name": "Ada", "email": "e" * 501}}, 400, "payload.email"),
    ("createRemoteConversation", {"payload": {"userId": LONG_ID}}, 404, "no person"),
    ("createRemoteConversation", {"payload": {"userId": "u", "messages": 3}}, 400, "messages"),
    (
        "createRemoteConversation",
        {
            "payload": {
                "userId": "{person}",
                "messageHistory": [{"source": {"type": "bot"}, "type": "t" * 41, "payload": {}}],
            }
        },
        400,
        "messageHistory.0.type",
    ),
    ("closeRemoteTicket", {"payload": {"remoteConversationId": LONG_ID}}, 404, "no conversation"),
    (
        "closeRemoteTicket",
        {"payload": {"remoteConversationId": "{remote}", "botpressConversationId": "b" * 101}},
        400,
        "botpressConversationId",
    ),
    ("closeRemoteTicket", {"type": "closeRemoteTicket"}, 400, "payload"),
    (
        "botSendsMessage",
        bot_message(LONG_ID, {"type": "text", "text": "x"}),
        404,
        "no conversation",
    ),
    ("botSendsMessage", bot_message("{remote}", {"type": "t" * 41}), 400, "payload.type"),
    ("botSendsMessage", bot_message("{remote}", {"type": 7, "text": "x"}), 400, "payload.type"),
    ("botSendsMessage", bot_message("{remote}", "hello"), 400, "payload"),
    ("noSuchOperation", {}, 404, "no operation 'noSuchOperation'"),
]


async def test_bad_protocol_calls_are_4xx_and_store_nothing(
    desk: RunningDesk, patchwire: ServiceClient, agent: FakeAgent
) -> None:
    remote = await handed_off(patchwire)
    before = await desk.conversation(remote)
    person = before["person"]["id"]
    for operation, body, status, reason in PROTOCOL_CASES:
        raw = (
            body
            if isinstance(body, bytes)
            else json.dumps(body).replace("{remote}", remote).replace("{person}", person).encode()
        )
        response = await desk.api.post(
            f"/{operation}",
            content=raw,
            headers={HEADER: sign(SECRET, raw, timestamp=next(_stamps))},
        )
        assert response.status_code == status, (operation, body, response.text)
        assert reason in response.json()["error"], (operation, response.text)
    assert await desk.conversations() == [{k: v for k, v in before.items() if k != "messages"}]
    assert (await desk.conversation(remote))["messages"] == before["messages"]


async def test_bad_page_api_calls_are_4xx(
    desk: RunningDesk, patchwire: ServiceClient, agent: FakeAgent
) -> None:
    remote = await handed_off(patchwire)
    assert (await desk.act(remote, "claim", agent="Alice")).status_code == 200
    alice = await desk.agent("Alice")
    cases: list[tuple[str, Any, int, str]] = [
        (
            f"/api/conversations/{remote}/messages",
            {"type": "text", "text": "t" * 4001},
            400,
            "text",
        ),
        (f"/api/conversations/{remote}/messages", {"type": "file", "url": "u" * 2001}, 400, "url"),
        (f"/api/conversations/{remote}/messages", {"type": "text"}, 400, "needs some text"),
        (f"/api/conversations/{remote}/messages", [], 400, "(root)"),
        (f"/api/conversations/{remote}/claim", {"agent": "Bob"}, 400, "agent"),
        (f"/api/conversations/{LONG_ID}/claim", {}, 404, "no conversation"),
        (f"/api/conversations/{LONG_ID}/messages", {"type": "text", "text": "x"}, 404, "no conv"),
        (f"/api/messages/{LONG_ID}/redeliver", {}, 404, "no agent message"),
        ("/api/login", {"name": "n" * 201, "password": "x"}, 400, "name"),
        ("/api/tokens", {"name": "Alice"}, 400, "password"),
    ]
    for path, body, status, reason in cases:
        response = await alice.post(path, json=body)
        assert response.status_code == status, (path, body, response.text)
        assert reason in response.json()["error"], (path, response.text)
    not_json = await alice.post(
        f"/api/conversations/{remote}/claim",
        content=b"{",
        headers={"content-type": "application/json"},
    )
    assert not_json.status_code == 400 and "not JSON" in not_json.json()["error"]
    missing = await alice.get(f"/api/conversations/{LONG_ID}")
    assert missing.status_code == 404
    assert [path for path, _ in agent.calls] == ["agent-assigned"]
