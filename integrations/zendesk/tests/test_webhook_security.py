"""Inbound webhooks: forged, stale, unsigned and replayed requests store nothing."""

from __future__ import annotations

import time

import httpx
from starlette.applications import Starlette

from patchwire.server import webhook_mounts
from patchwire.testing.hitl import HitlHarness
from patchwire_zendesk import INVOCATION_HEADER, SIGNATURE_HEADER, timestamp_now

from .conftest import ZendeskHelpdesk
from .fake_zendesk import Delivery, FakeZendesk
from .helpers import open_ticket, settle


async def agent_says(zendesk: FakeZendesk, ticket_id: int, text: str) -> Delivery:
    """An agent comments; the webhook Zendesk would send, not sent yet."""
    zendesk.agent_comment(ticket_id, zendesk.agent("Alice"), text)
    [delivery] = zendesk.pending
    zendesk.pending.clear()
    return delivery


async def test_forged_stale_unsigned_and_replayed_webhooks_are_refused(
    harness: HitlHarness, helpdesk: ZendeskHelpdesk, zendesk: FakeZendesk
) -> None:
    ticket_id = await open_ticket(harness, helpdesk)
    delivery = await agent_says(zendesk, ticket_id, "from the agent")
    forged = await zendesk.post(delivery, zendesk.signed_headers(delivery, secret="guessed"))
    stale_time = timestamp_now(time.time() - 301)
    stale = await zendesk.post(delivery, zendesk.signed_headers(delivery, timestamp=stale_time))
    unsigned_headers = zendesk.signed_headers(delivery)
    del unsigned_headers[SIGNATURE_HEADER]
    unsigned = await zendesk.post(delivery, unsigned_headers)
    assert [r.status_code for r in (forged, stale, unsigned)] == [401] * 3
    assert "does not match" in forged.json()["error"]
    assert "301 s away" in stale.json()["error"]
    assert "missing X-Zendesk-Webhook-Signature" in unsigned.json()["error"]
    await settle(harness, helpdesk)
    assert "from the agent" not in await harness.user_sees()

    good = zendesk.signed_headers(delivery)
    first = await zendesk.post(delivery, good)
    assert first.status_code == 200 and first.json() == {"relayed": 1}
    again = await zendesk.post(delivery, good)  # the same request once more
    assert again.json() == {"duplicate": True}
    replayed = await zendesk.post(delivery, {**good, INVOCATION_HEADER: "invented"})
    assert replayed.status_code == 401 and "replayed" in replayed.json()["error"]
    await settle(harness, helpdesk)
    assert (await harness.user_sees()).count("from the agent") == 1


async def test_a_new_invocation_of_a_relayed_comment_stores_nothing_new(
    harness: HitlHarness, helpdesk: ZendeskHelpdesk, zendesk: FakeZendesk
) -> None:
    ticket_id = await open_ticket(harness, helpdesk)
    delivery = await agent_says(zendesk, ticket_id, "once")
    assert (await zendesk.post(delivery, zendesk.signed_headers(delivery))).json() == {"relayed": 1}
    retry = Delivery(delivery.webhook_id, delivery.body, "another-invocation")
    later = timestamp_now(time.time() + 1)  # signed at its own delivery time
    answer = await zendesk.post(retry, zendesk.signed_headers(retry, timestamp=later))
    assert answer.json() == {"relayed": 0}
    await settle(harness, helpdesk)
    assert (await harness.user_sees()).count("once") == 1


async def test_a_delivery_that_failed_is_processed_when_zendesk_retries_it(
    harness: HitlHarness, helpdesk: ZendeskHelpdesk, zendesk: FakeZendesk
) -> None:
    ticket_id = await open_ticket(harness, helpdesk)
    delivery = await agent_says(zendesk, ticket_id, "worth the wait")
    headers = zendesk.signed_headers(delivery)
    zendesk.failures.append((403, {}))  # reading the comment fails once
    failed = await zendesk.post(delivery, headers)
    assert failed.status_code == 500
    retried = await zendesk.post(delivery, headers)
    assert retried.json() == {"relayed": 1}
    await settle(harness, helpdesk)
    assert "worth the wait" in await harness.user_sees()


async def test_webhooks_are_refused_until_register_ran(
    harness: HitlHarness, helpdesk: ZendeskHelpdesk, zendesk: FakeZendesk
) -> None:
    assert helpdesk.runtime is not None
    app = Starlette(routes=webhook_mounts(helpdesk.runtime))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app)) as http:
        response = await http.post(
            f"http://agent/webhooks/{helpdesk.alias}",
            content=b'{"event":"ticket_solved","ticket_id":"1"}',
        )
    assert response.status_code == 401
    assert "not registered" in response.json()["error"]


async def test_tickets_of_other_agents_and_unknown_events_are_ignored(
    harness: HitlHarness, helpdesk: ZendeskHelpdesk, zendesk: FakeZendesk
) -> None:
    await helpdesk.ready()
    [webhook_id] = zendesk.webhooks
    for body, answer in (
        (b'{"event":"ticket_solved","ticket_id":"999"}', "not a session of this agent"),
        (b'{"ticket_id":"1"}', "event: Field required"),
    ):
        delivery = Delivery(webhook_id, body, f"inv-{len(answer)}")
        response = await zendesk.post(delivery, zendesk.signed_headers(delivery))
        assert answer in response.text

