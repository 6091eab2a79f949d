"""Intercom's notification URL over real HTTP: bad input, oversized bodies, bounded memory.

On SQLite and on PostgreSQL; every body is signed with the client secret, as Intercom signs.
"""

from __future__ import annotations

import asyncio
import copy
import json
from datetime import timedelta
from typing import Any

import httpx
import pytest

from patchwire.testing.hitl import HELPDESK_ALIAS, HitlHarness
from patchwire_intercom import HEADER
from patchwire_intercom import _webhook as webhook_module

from .conftest import IntercomHelpdesk, start_session
from .fake_intercom import CLIENT_SECRET, FakeIntercom, signature


@pytest.fixture
def harness(hitl_harness_each_database: HitlHarness) -> HitlHarness:
    return hitl_harness_each_database


@pytest.fixture
def agent(helpdesk_routes: httpx.AsyncClient) -> httpx.AsyncClient:
    return helpdesk_routes


async def post(agent: httpx.AsyncClient, body: bytes) -> httpx.Response:
    return await agent.post("", content=body, headers={HEADER: signature(CLIENT_SECRET, body)})


async def a_reply(harness: HitlHarness, intercom: FakeIntercom, text: str) -> dict[str, Any]:
    """A teammate's reply in a session patchwire opened, as the notification Intercom sends."""
    remote = await start_session(harness)
    helpdesk = harness.helpdesk
    assert isinstance(helpdesk, IntercomHelpdesk)
    await helpdesk.deliver()
    intercom.admin_reply(remote, intercom.admin_named("Alice"), f"<p>{text}</p>")
    [delivery] = [d for d in intercom.outbox if d.topic.endswith("replied")]
    intercom.outbox.clear()
    notification: dict[str, Any] = json.loads(delivery.raw)
    return notification


def changed(notification: dict[str, Any], path: tuple[str | int, ...], value: Any) -> bytes:
    """The notification with the field at ``path`` set to ``value``."""
    copied = copy.deepcopy(notification)
    target: Any = copied
    for step in path[:-1]:
        target = target[step]
    target[path[-1]] = value
    return json.dumps(copied).encode()


PART = ("data", "item", "conversation_parts", "conversation_parts", 0)


async def test_bad_input_is_a_4xx_that_says_why(
    harness: HitlHarness, intercom: FakeIntercom, agent: httpx.AsyncClient
) -> None:
    notification = await a_reply(harness, intercom, "the real one")
    before = await harness.user_sees()
    cases: list[tuple[bytes, str]] = [
        (b"", "Invalid JSON"),
        (b"\xff", "Invalid JSON"),
        (b"[]", "Input should be an object"),
        (changed(notification, ("id",), "n" * 400), "id"),
        (changed(notification, ("id",), None), "id"),
        (changed(notification, ("topic",), "t" * 300), "topic"),
        (changed(notification, ("data", "item", "id"), "c" * 400), "id"),
        (changed(notification, ("data", "item", "id"), {"no": "id"}), "id"),
        (changed(notification, (*PART, "id"), "p" * 400), "id"),
        (changed(notification, (*PART, "author", "id"), "a" * 400), "id"),
        (changed(notification, (*PART, "author", "name"), "n" * 600), "name"),
        (changed(notification, (*PART, "attachments"), "not a list"), "attachments"),
    ]
    for body, reason in cases:
        answer = await post(agent, body)
        assert answer.status_code == 400, (body[:80], answer.text)
        assert reason in answer.json()["error"], (body[:80], answer.text)
    for method in ("GET", "PUT", "DELETE"):
        assert (await agent.request(method, "")).status_code == 405
    await harness.settle()
    assert await harness.user_sees() == before


async def test_an_oversized_notification_is_a_413_signed_or_not(
    harness: HitlHarness, intercom: FakeIntercom, agent: httpx.AsyncClient
) -> None:
    notification = await a_reply(harness, intercom, "small")
    big = changed(notification, (*PART, "body"), "<p>" + "x" * (2 << 20) + "</p>")
    forged = await agent.post("", content=big, headers={HEADER: "sha1=" + "0" * 40})
    signed = await post(agent, big)
    assert (forged.status_code, signed.status_code) == (413, 413)
    await harness.settle()
    assert not any(t.startswith("xxxx") for t in await harness.user_sees())


async def test_notification_ids_are_forgotten_after_the_window(
    harness: HitlHarness,
    intercom: FakeIntercom,
    agent: httpx.AsyncClient,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    window = timedelta(seconds=1)
    monkeypatch.setattr(webhook_module, "NOTIFICATION_MEMORY", window)
    notification = await a_reply(harness, intercom, "remembered for a while")
    first = await post(agent, json.dumps(notification).encode())
    again = await post(agent, json.dumps(notification).encode())
    assert (first.json()["duplicate"], again.json()["duplicate"]) == (False, True)
    await asyncio.sleep(1.2)
    later = changed(notification, ("id",), "notif_later")
    assert (await post(agent, later)).json()["duplicate"] is False  # this purges the old ids
    store = harness.runtime.store
    scope = f"integration:{HELPDESK_ALIAS}:1s"
    assert await store.remember(scope, f"notification:{notification['id']}"), "not forgotten"
    assert not await store.remember(scope, "notification:notif_later"), "forgotten too early"
    # Forgotten or not, the reply reached the user once: parts stay deduplicated by id.
    await post(agent, json.dumps(notification).encode())
    await harness.settle()
    assert (await harness.user_sees()).count("remembered for a while") == 1
