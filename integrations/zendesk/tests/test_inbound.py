"""Zendesk's webhook over real HTTP: re-spelt signatures, bad input, oversized bodies.

On SQLite and on PostgreSQL; signed with the secret register stored, as Zendesk signs.
"""

from __future__ import annotations

import base64
import json
import string
import uuid
from collections.abc import Mapping

import httpx
import pytest

from patchwire.testing.hitl import HitlHarness
from patchwire_zendesk import INVOCATION_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER

from .conftest import ZendeskHelpdesk
from .fake_zendesk import Delivery, FakeZendesk
from .helpers import open_ticket, settle

BASE64 = string.ascii_uppercase + string.ascii_lowercase + string.digits + "+/"


@pytest.fixture
def harness(hitl_harness_each_database: HitlHarness) -> HitlHarness:
    return hitl_harness_each_database


@pytest.fixture
def agent(helpdesk_routes: httpx.AsyncClient) -> httpx.AsyncClient:
    return helpdesk_routes


def signed(zendesk: FakeZendesk, body: bytes, invocation: str | None = None) -> dict[str, str]:
    [webhook_id] = zendesk.webhooks
    return zendesk.signed_headers(Delivery(webhook_id, body, invocation or uuid.uuid4().hex))


async def test_respelt_signatures_relay_the_comment_once(
    harness: HitlHarness,
    helpdesk: ZendeskHelpdesk,
    zendesk: FakeZendesk,
    agent: httpx.AsyncClient,
) -> None:
    ticket_id = await open_ticket(harness, helpdesk)
    zendesk.agent_comment(ticket_id, zendesk.agent("Alice"), "only once, please")
    [delivery] = zendesk.pending
    zendesk.pending.clear()
    good = zendesk.signed_headers(delivery)
    signature, moment = good[SIGNATURE_HEADER], good[TIMESTAMP_HEADER]
    raw_mac = base64.b64decode(signature)
    # The same MAC with an unused bit of its last base64 digit set: it decodes the same.
    sloppy = signature[:42] + BASE64[BASE64.index(signature[42]) | 1] + "="
    assert sloppy != signature and base64.b64decode(sloppy) == raw_mac
    spellings = [
        {SIGNATURE_HEADER: signature.rstrip("=")},
        {SIGNATURE_HEADER: signature.swapcase()},
        {SIGNATURE_HEADER: signature + "=="},
        {SIGNATURE_HEADER: sloppy},
        {TIMESTAMP_HEADER: moment.replace("Z", "+00:00")},
        {TIMESTAMP_HEADER: moment.replace("T", " ")},
        {TIMESTAMP_HEADER: moment[:-1] + ".000Z"},
    ]
    answers = [
        await agent.post("", content=delivery.body, headers={**good, **change})
        for change in [*spellings, {}]
    ]
    assert [a.status_code for a in answers] == [401] * len(spellings) + [200]
    assert answers[-1].json() == {"relayed": 1}
    assert all(
        "malformed" in a.json()["error"] or "does not match" in a.json()["error"]
        for a in answers[:-1]
    ), [a.text for a in answers]
    # The same signature under another invocation id is a replay, not a new delivery.
    invented = await agent.post(
        "", content=delivery.body, headers={**good, INVOCATION_HEADER: "invented"}
    )
    assert invented.status_code == 401 and "replayed" in invented.json()["error"]
    await settle(harness, helpdesk)
    assert (await harness.user_sees()).count("only once, please") == 1


def bad_bodies(ticket_id: int) -> list[tuple[bytes, int, str]]:
    """``(body, status, reason)``, each signed correctly and wrong in one way."""
    ticket = str(ticket_id)
    return [
        (b"", 400, "Invalid JSON"),
        (b"\xff", 400, "Invalid JSON"),
        (b"[]", 400, "Input should be an object"),
        (b'{"ticket_id": "1"}', 400, "event: Field required"),
        (json.dumps({"event": "agent_commented"}).encode(), 400, "ticket"),
        (
            json.dumps({"event": "ticket_solved", "ticket_id": "1/../../users"}).encode(),
            400,
            "ticket",
        ),
        (json.dumps({"event": "ticket_solved", "ticket_id": "9" * 40}).encode(), 400, "ticket"),
        (
            json.dumps(
                {"event": "agent_commented", "ticket_id": ticket, "comment_id": "x"}
            ).encode(),
            400,
            "comment",
        ),
        (json.dumps({"event": "e" * 300, "ticket_id": ticket}).encode(), 400, "event"),
        (json.dumps({"event": "ticket_solved", "ticket_id": 5}).encode(), 400, "ticket"),
        (
            json.dumps({"event": "ticket_solved", "ticket_id": "999999"}).encode(),
            200,
            "not a session of this agent",
        ),
        (json.dumps({"event": "sneezed", "ticket_id": ticket}).encode(), 200, "unknown event"),
    ]


async def test_bad_input_is_a_4xx_that_says_why(
    harness: HitlHarness,
    helpdesk: ZendeskHelpdesk,
    zendesk: FakeZendesk,
    agent: httpx.AsyncClient,
) -> None:
    ticket_id = await open_ticket(harness, helpdesk)
    before = await harness.user_sees()
    for body, status, reason in bad_bodies(ticket_id):
        answer = await agent.post("", content=body, headers=signed(zendesk, body))
        assert answer.status_code == status, (body[:60], answer.text)
        assert reason in answer.text, (body[:60], answer.text)
    body = json.dumps({"event": "ticket_solved", "ticket_id": str(ticket_id)}).encode()
    long_invocation = await agent.post("", content=body, headers=signed(zendesk, body, "i" * 500))
    assert long_invocation.status_code == 400
    assert "X-Zendesk-Webhook-Invocation-Id is 500 characters long" in long_invocation.text
    for method in ("GET", "PUT"):
        assert (await agent.request(method, "")).status_code == 405
    await settle(harness, helpdesk)
    assert await harness.user_sees() == before


async def test_an_oversized_body_is_a_413_signed_or_not(
    harness: HitlHarness,
    helpdesk: ZendeskHelpdesk,
    zendesk: FakeZendesk,
    agent: httpx.AsyncClient,
) -> None:
    ticket_id = await open_ticket(harness, helpdesk)
    big = json.dumps(
        {"event": "agent_commented", "ticket_id": str(ticket_id), "pad": "x" * (2 << 20)}
    ).encode()
    forged: Mapping[str, str] = {SIGNATURE_HEADER: "A" * 43 + "=", TIMESTAMP_HEADER: "now"}
    answers = [
        await agent.post("", content=big, headers=dict(forged)),
        await agent.post("", content=big, headers=signed(zendesk, big)),
    ]
    assert [a.status_code for a in answers] == [413, 413]
    assert "larger than 1048576 bytes" in answers[1].json()["error"]
