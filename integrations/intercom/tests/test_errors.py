"""Errors and limits: a refused token, rate limits, retries, a conversation deleted in the inbox."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from patchwire.testing.hitl import HitlHarness, start_harness
from patchwire_intercom import (
    IntercomAuthError,
    IntercomClient,
    IntercomConfiguration,
    IntercomError,
)
from patchwire_intercom._links import UNDELIVERED_TAG

from .conftest import IntercomHelpdesk, start_session
from .fake_intercom import TOKEN, FakeIntercom

STOPPED = "The human agent closed the conversation. I will continue assisting you."


@pytest.fixture
async def client(intercom: FakeIntercom) -> AsyncIterator[IntercomClient]:
    configuration = IntercomConfiguration(
        access_token=TOKEN, client_secret="x", base_url=intercom.url
    )
    async with IntercomClient(configuration, label="support") as opened:
        yield opened


async def test_a_refused_token_names_the_credential(intercom: FakeIntercom, tmp_path: Path) -> None:
    helpdesk = IntercomHelpdesk(intercom, accessToken="revoked-token")
    harness = await start_harness(helpdesk, tmp_path)
    try:
        conversation, user_id = await harness.user_conversation()
        with pytest.raises(Exception, match=r"refused the access token \(accessToken of "):
            await harness.runtime.plugins.hitl.actions.start_hitl(
                title="Help", conversation_id=conversation.id, user_id=user_id
            )
        assert (await harness.user_sees())[-1].startswith("Sorry, I could not connect you")
    finally:
        await harness.runtime.stop()
        await harness.runtime.store.close()


async def test_401_and_403_are_auth_errors_naming_the_alias(
    client: IntercomClient, intercom: FakeIntercom
) -> None:
    intercom.failures = [(401, {}), (403, {})]
    with pytest.raises(IntercomAuthError, match="accessToken of integration 'support'"):
        await client.get("/me")
    with pytest.raises(IntercomAuthError, match=r"may not GET /me.*Developer Hub"):
        await client.get("/me")


async def test_429_waits_until_the_rate_limit_window_reopens(
    harness: HitlHarness, intercom: FakeIntercom
) -> None:
    remote = await start_session(harness)
    reset = int(time.time()) + 2
    intercom.failures = [(429, {"X-RateLimit-Reset": str(reset), "X-RateLimit-Limit": "167"})]
    await harness.say("rate limited")
    assert time.time() >= reset - 0.05
    assert intercom.received(remote).count("rate limited") == 1


async def test_429_honours_retry_after_ms_first(
    client: IntercomClient, intercom: FakeIntercom
) -> None:
    intercom.failures = [(429, {"retry-after-ms": "300", "X-RateLimit-Reset": "9999999999"})]
    started = time.monotonic()
    me = await client.get("/me")
    assert 0.3 <= time.monotonic() - started < 2
    assert me["id"] == intercom.bot


async def test_a_post_is_not_retried_when_intercom_may_have_acted_on_it(
    client: IntercomClient, intercom: FakeIntercom
) -> None:
    intercom.failures = [(500, {})]
    with pytest.raises(IntercomError, match="refused POST /tags with 500"):
        await client.post("/tags", {"name": "vip"})
    intercom.failures = [(503, {}), (502, {})]
    assert (await client.post("/tags", {"name": "vip"}))["name"] == "vip"
    intercom.failures = [(500, {})]
    assert (await client.get("/me"))["id"] == intercom.bot


async def test_a_workspace_that_stays_down_is_a_clear_error(
    client: IntercomClient, intercom: FakeIntercom
) -> None:
    intercom.down = True
    with pytest.raises(IntercomError, match="kept failing GET /me after 4 attempts: answered 503"):
        await client.get("/me")


async def test_a_conversation_deleted_in_intercom_ends_the_session(
    harness: HitlHarness, helpdesk: IntercomHelpdesk, intercom: FakeIntercom
) -> None:
    remote = await start_session(harness)
    await helpdesk.deliver()
    intercom.delete(remote)
    [deleted] = await helpdesk.deliver()
    assert deleted.topic == "conversation.deleted"
    await harness.settle()
    assert (await harness.user_sees())[-1] == STOPPED
    await harness.say("back to the bot")
    assert "back to the bot" in harness.handled


async def test_a_deletion_found_while_relaying_ends_the_session_once(
    harness: HitlHarness, helpdesk: IntercomHelpdesk, intercom: FakeIntercom
) -> None:
    intercom.subscribed.discard("conversation.deleted")
    remote = await start_session(harness)
    intercom.delete(remote)
    message = await harness.say("anyone there?")
    seen = await harness.user_sees()
    assert seen[-1] == STOPPED and seen.count(STOPPED) == 1
    found = await harness.runtime.store.find_messages(
        {UNDELIVERED_TAG: "the conversation was deleted in Intercom"}
    )
    [undelivered] = found
    assert undelivered.payload["text"] == message.payload["text"] == "anyone there?"
    await harness.say("hello bot")
    assert "hello bot" in harness.handled


async def test_stopping_a_deleted_conversation_is_not_an_error(
    harness: HitlHarness, intercom: FakeIntercom
) -> None:
    intercom.subscribed.discard("conversation.deleted")
    remote = await start_session(harness)
    intercom.delete(remote)
    conversation, _ = await harness.user_conversation()
    await harness.runtime.plugins.hitl.actions.stop_hitl(conversation_id=conversation.id)
    await harness.settle()
    assert remote not in intercom.conversations
