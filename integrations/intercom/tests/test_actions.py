"""The actions against the fake workspace: contacts, the opened conversation, closing."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from patchwire.testing.hitl import HitlHarness, start_harness
from patchwire_intercom import CONTACT_TAG, IntercomClient, IntercomConfiguration
from patchwire_intercom._contacts import resolve_contact

from .conftest import IntercomHelpdesk, start_session
from .fake_intercom import TOKEN, FakeIntercom


@pytest.fixture
async def client(intercom: FakeIntercom) -> AsyncIterator[IntercomClient]:
    configuration = IntercomConfiguration(
        access_token=TOKEN, client_secret="x", base_url=intercom.url
    )
    async with IntercomClient(configuration) as opened:
        yield opened


def paths(intercom: FakeIntercom) -> list[str]:
    return [f"{method} {path}" for method, path, _ in intercom.requests]


async def test_a_user_is_found_by_external_id_first(
    client: IntercomClient, intercom: FakeIntercom
) -> None:
    known = intercom.add_contact(role="user", external_id="ext-1", name="Known")
    found = await resolve_contact(client, external_id="ext-1", role="user", name="Known")
    assert (found.id, found.role) == (known["id"], "user")
    assert paths(intercom) == ["GET /contacts/find_by_external_id/ext-1"]


async def test_a_lead_or_a_customer_known_by_email_is_found_by_search(
    client: IntercomClient, intercom: FakeIntercom
) -> None:
    lead = intercom.add_contact(role="lead", external_id="ext-2", name="Lead")
    customer = intercom.add_contact(role="user", email="ann@example.com", external_id="crm-9")
    found = await resolve_contact(client, external_id="ext-2", role="user", name="Lead")
    assert (found.id, found.role) == (lead["id"], "lead")
    by_email = await resolve_contact(
        client, external_id="patchwire-x", role="user", name="Ann", email="ann@example.com"
    )
    assert (by_email.id, by_email.external_id) == (customer["id"], "crm-9")
    assert "POST /contacts" not in paths(intercom)


async def test_a_contact_created_moments_ago_is_found_through_the_conflict(
    client: IntercomClient, intercom: FakeIntercom
) -> None:
    first = await resolve_contact(client, external_id="ext-3", role="lead", name="New")
    again = await resolve_contact(client, external_id="ext-3", role="lead", name="New")
    assert again.id == first.id and again.role == "lead"
    assert paths(intercom)[-3:] == [
        "POST /contacts/search",
        "POST /contacts",
        f"GET /contacts/{first.id}",
    ]
    assert len(intercom.contacts) == 1


async def test_create_user_caches_the_contact_id(
    harness: HitlHarness, intercom: FakeIntercom
) -> None:
    actions = harness.runtime.integrations.desk.actions
    created = (await actions.create_user(name="Ann", email="Ann@Example.com")).model_dump()
    calls = len(intercom.requests)
    again = (await actions.create_user(name="Ann", email="ann@example.com")).model_dump()
    assert again["user_id"] == created["user_id"]
    assert len(intercom.requests) == calls, "a cached contact needs no call to Intercom"
    user = await harness.runtime.store.get_user(created["user_id"])
    assert user is not None
    contact = intercom.contacts[user.tags[CONTACT_TAG]]
    assert contact["external_id"] == f"patchwire-{user.id}"
    assert (contact["email"], contact["role"], contact["name"]) == (
        "ann@example.com",
        "user",
        "Ann",
    )


async def test_start_opens_a_conversation_from_the_contact_with_a_hidden_transcript(
    harness: HitlHarness, helpdesk: IntercomHelpdesk, intercom: FakeIntercom
) -> None:
    team = intercom.add_team("Billing")
    dana = intercom.add_admin("Dana")
    remote = await start_session(
        harness,
        title="Refund",
        description="wants a refund",
        hitl_session={"teamId": team, "adminId": dana, "priority": "high", "tags": ["vip", "bot"]},
    )
    conversation = intercom.conversations[remote]
    contact = intercom.contacts[conversation.contact_id]
    assert conversation.source_body == "Refund\nwants a refund"
    assert conversation.title == "Refund"
    assert (conversation.team_assignee_id, conversation.admin_assignee_id) == (int(team), int(dana))
    assert [tag["name"] for tag in conversation.tags] == ["vip", "bot"]
    [note] = [p for p in conversation.parts if p["part_type"] == "note"]
    assert note["author"]["id"] == intercom.bot
    assert note["body"].startswith("<p>Priority: high</p><p>Conversation with the assistant")
    assert f"<p>{contact['name']}: my order is late</p>" in note["body"]
    assert "<p>Bot: bot: my order is late</p>" in note["body"]
    await helpdesk.deliver()
    await harness.settle()
    assert "A human agent has joined the conversation." in await harness.user_sees()


async def test_a_failed_start_closes_what_it_opened(
    harness: HitlHarness, intercom: FakeIntercom
) -> None:
    await harness.say("hello")
    conversation, user_id = await harness.user_conversation()
    with pytest.raises(Exception, match="team not found"):
        await harness.runtime.plugins.hitl.actions.start_hitl(
            title="Help",
            conversation_id=conversation.id,
            user_id=user_id,
            hitl_session={"teamId": "999"},
        )
    [opened] = intercom.conversations.values()
    assert opened.state == "closed"
    assert (await harness.user_sees())[-1].startswith("Sorry, I could not connect you")


async def test_stop_closes_as_the_configured_bot_admin_without_asking_who_it_is(
    intercom: FakeIntercom, tmp_path: Path
) -> None:
    closer = intercom.add_admin("Closer")
    helpdesk = IntercomHelpdesk(intercom, botAdminId=closer)
    harness = await start_harness(helpdesk, tmp_path, agentAssignedTimeoutSeconds=0)
    try:
        remote = await start_session(harness)
        await harness.say("/end")
    finally:
        await harness.runtime.stop()
        await harness.runtime.store.close()
    [close] = [p for p in intercom.conversations[remote].parts if p["part_type"] == "close"]
    assert close["author"]["id"] == closer
    assert "GET /me" not in paths(intercom)


async def test_the_close_echo_of_a_user_ending_the_session_changes_nothing(
    harness: HitlHarness, helpdesk: IntercomHelpdesk, intercom: FakeIntercom
) -> None:
    remote = await start_session(harness)
    await harness.say("/end")
    seen = await harness.user_sees()
    [echo] = [d for d in await helpdesk.deliver() if d.topic == "conversation.admin.closed"]
    assert intercom.conversations[remote].state == "closed"
    await harness.settle()
    assert await harness.user_sees() == seen
    assert echo.topic == "conversation.admin.closed"
