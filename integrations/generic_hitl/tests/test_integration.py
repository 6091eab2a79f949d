"""generic-hitl over real HTTP: signatures, bad bodies, retries, a service that stays down."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from pydantic import ValidationError

from patchwire.testing.hitl import HitlHarness, start_harness
from patchwire_generic_hitl import GenericHitlConfiguration, integration, sign

from .conftest import SECRET, FakeService, GenericHelpdesk


@pytest.fixture
async def harness(helpdesk: GenericHelpdesk, tmp_path: Path) -> AsyncIterator[HitlHarness]:
    started = await start_harness(helpdesk, tmp_path)
    yield started
    await started.runtime.stop()
    await started.runtime.store.close()


async def started_session(harness: HitlHarness, service: FakeService) -> str:
    await harness.say("/starthitl")
    [remote] = list(service.conversations)
    return remote


async def relayed(harness: HitlHarness) -> list[str]:
    return [t for t in await harness.user_sees() if t.startswith("from agent")]


async def test_forged_unsigned_stale_and_replayed_webhooks_are_refused(
    harness: HitlHarness, helpdesk: GenericHelpdesk, service: FakeService
) -> None:
    remote = await started_session(harness, service)
    body = {
        "remoteConversationId": remote,
        "remoteUserId": "agent-Eve",
        "messageType": "text",
        "payload": {"text": "from agent: forged"},
    }
    forged = await helpdesk.post("/message-from-agent", body, secret="not-the-shared-secret")
    unsigned = await helpdesk.post("/message-from-agent", body, signature="")
    import json as _json

    raw = _json.dumps(body).encode()
    stale = await helpdesk.post(
        "/message-from-agent", body, signature=sign(SECRET, raw, timestamp=int(time.time()) - 301)
    )
    good = sign(SECRET, raw)
    first = await helpdesk.post("/message-from-agent", body, signature=good)
    replayed = await helpdesk.post("/message-from-agent", body, signature=good)
    assert [r.status_code for r in (forged, unsigned, stale, replayed)] == [401] * 4
    assert "does not match" in forged.json()["error"]
    assert "missing" in unsigned.json()["error"]
    assert "301 s away" in stale.json()["error"]
    assert "replayed" in replayed.json()["error"]
    assert first.status_code == 200
    await harness.settle()
    assert await relayed(harness) == ["from agent: forged"]


async def test_unknown_conversations_and_malformed_bodies(
    harness: HitlHarness, helpdesk: GenericHelpdesk, service: FakeService
) -> None:
    remote = await started_session(harness, service)
    unknown = await helpdesk.post("/stop-hitl", {"remoteConversationId": "rc-nope"})
    assert unknown.status_code == 404 and "unknown remoteConversationId 'rc-nope'" in unknown.text
    malformed = await helpdesk.post("/message-from-agent", {"remoteConversationId": remote})
    assert malformed.status_code == 400 and "remoteUserId: Field required" in malformed.text
    wrong_path = await helpdesk.post("/agent-left", {"remoteConversationId": remote})
    assert wrong_path.status_code == 404
    await harness.settle()
    assert await relayed(harness) == []


async def test_starter_protocol_bodies_are_accepted(
    harness: HitlHarness, helpdesk: GenericHelpdesk, service: FakeService
) -> None:
    remote = await started_session(harness, service)
    assigned = await helpdesk.post(
        "/agent-assigned", {"remoteConversationId": remote, "remoteUserId": "agent-7"}
    )
    message = await helpdesk.post(
        "/message-from-agent",
        {
            "remoteConversationId": remote,
            "remoteUserId": "agent-7",
            "messageType": "text",
            "payload": {"text": "from agent: hi"},
        },
    )
    assert (assigned.status_code, message.status_code) == (200, 200)
    await harness.settle()
    assert await relayed(harness) == ["from agent: hi"]


async def test_a_500_then_200_delivers_the_message_once(
    harness: HitlHarness, service: FakeService
) -> None:
    remote = await started_session(harness, service)
    service.failures = [(500, {})]
    await harness.say("please help")
    assert service.conversations[remote]["received"].count("please help") == 1


async def test_429_waits_for_retry_after(harness: HitlHarness, service: FakeService) -> None:
    remote = await started_session(harness, service)
    service.failures = [(429, {"Retry-After": "1"})]
    started = time.monotonic()
    await harness.say("rate limited")
    assert time.monotonic() - started >= 1.0
    assert "rate limited" in service.conversations[remote]["received"]


async def test_a_service_that_stays_down_is_a_clear_error_and_the_user_is_told(
    harness: HitlHarness, service: FakeService
) -> None:
    service.down = True
    conversation, user_id = await harness.user_conversation()
    with pytest.raises(Exception, match=r"kept failing after 4 attempts: answered 503"):
        await harness.runtime.plugins.hitl.actions.start_hitl(
            title="Help", conversation_id=conversation.id, user_id=user_id
        )
    assert (await harness.user_sees())[-1] == (
        "Sorry, I could not connect you with a human agent. Please try again later."
    )


def test_a_signing_secret_is_required_unless_unsigned_is_allowed() -> None:
    with pytest.raises(ValidationError, match="signingSecret is required"):
        GenericHitlConfiguration(endpoint_base_url="http://desk")
    GenericHitlConfiguration(endpoint_base_url="http://desk", allow_unsigned=True)


async def test_the_online_check_pings_the_service(service: FakeService) -> None:
    configuration = GenericHitlConfiguration(endpoint_base_url=service.url, signing_secret=SECRET)
    assert integration.online_check is not None
    assert await integration.online_check(configuration) == []
    assert service.requests[-1] == ("/ping", {"type": "ping"})
    wrong = GenericHitlConfiguration(
        endpoint_base_url=service.url, signing_secret="not-the-secret-the-service-has"
    )
    [problem] = await integration.online_check(wrong)
    assert "refused the call with 401" in problem and "signature" in problem


async def test_calls_whose_answer_was_lost_are_carried_out_once(
    harness: HitlHarness, service: FakeService
) -> None:
    service.lose_answer = {"/createRemoteUser", "/createRemoteConversation"}
    remote = await started_session(harness, service)
    assert len(service.users) == 1, "the retry created a second user"
    assert len(service.conversations) == 1, "the retry created a second conversation"
    service.lose_answer = {"/botSendsMessage"}
    await harness.say("said once")
    assert service.conversations[remote]["received"].count("said once") == 1
    assert None not in service.keys, "every call carries an Idempotency-Key"
    assert len(service.keys) == len(set(service.keys)) + 3, "each lost answer was retried once"
