"""The handoff over real HTTP: the ticket, the relay both ways, and the inbound events."""

from __future__ import annotations

import json
from pathlib import Path

from patchwire.testing.hitl import HitlHarness, start_harness

from .conftest import ZendeskHelpdesk
from .fake_zendesk import API_USER_ID, Delivery, FakeZendesk
from .helpers import open_ticket, settle, user_messages

JOINED = "A human agent has joined the conversation."
CLOSED = "The human agent closed the conversation. I will continue assisting you."


async def test_start_files_one_ticket_carrying_the_transcript(
    harness: HitlHarness, helpdesk: ZendeskHelpdesk, zendesk: FakeZendesk
) -> None:
    ticket_id = await open_ticket(harness, helpdesk)
    ticket = zendesk.tickets[ticket_id]
    requester = zendesk.users[ticket["requester_id"]]
    assert ticket["subject"] == "Help"
    assert ticket["tags"] == ["patchwire_hitl"]
    assert ticket["external_id"].startswith("patchwire-")
    assert requester["role"] == "end-user" and requester["external_id"].startswith("patchwire-")
    assert "email" not in requester, "no placeholder address when the user gave none"
    [first] = zendesk.comments[ticket_id]
    assert first["public"] is True and first["via"]["channel"] == "api"
    assert "User u1:\nmy order is late" in first["body"]
    assert "Bot (Bot):\nbot: my order is late" in first["body"]


async def test_the_entity_shapes_the_ticket_and_names_the_bot(
    harness: HitlHarness, helpdesk: ZendeskHelpdesk, zendesk: FakeZendesk
) -> None:
    ticket_id = await open_ticket(
        harness,
        helpdesk,
        priority="high",
        groupId="42",
        ticketFormId="7",
        tags=["vip"],
        requesterName="Jane",
        requesterEmail="jane@example.com",
        chatbotName="Helper",
    )
    ticket = zendesk.tickets[ticket_id]
    assert (ticket["priority"], ticket["group_id"], ticket["ticket_form_id"]) == ("high", 42, 7)
    assert ticket["tags"] == ["patchwire_hitl", "vip"]
    jane = zendesk.users[ticket["requester_id"]]
    assert (jane["name"], jane["email"]) == ("Jane", "jane@example.com")
    assert "Bot (Helper):" in zendesk.comments[ticket_id][0]["body"]
    await harness.say("hello agent")
    await harness.say("/end")
    *_, from_user, from_bot = zendesk.comments[ticket_id]
    assert (from_user["body"], from_user["author_id"]) == ("hello agent", jane["id"])
    bot = zendesk.users[from_bot["author_id"]]
    assert (bot["name"], bot["role"]) == ("Helper", "end-user")
    assert zendesk.tickets[ticket_id]["status"] == "closed"


async def test_our_own_comments_never_come_back(
    harness: HitlHarness, helpdesk: ZendeskHelpdesk, zendesk: FakeZendesk
) -> None:
    ticket_id = await open_ticket(harness, helpdesk)
    await harness.say("hello agent")
    assert zendesk.comments[ticket_id][-1]["via"]["channel"] == "api"
    assert zendesk.pending == [], "an API-made comment fired the agent-commented trigger"
    # Even if a trigger did fire, a comment made through the API is not relayed.
    [webhook_id] = zendesk.webhooks
    body = json.dumps({"event": "agent_commented", "ticket_id": str(ticket_id)}).encode()
    delivery = Delivery(webhook_id, body, "by-hand")
    response = await zendesk.post(delivery, zendesk.signed_headers(delivery))
    assert response.json() == {"relayed": 0}
    await settle(harness, helpdesk)
    assert "hello agent" not in await harness.user_sees()


async def test_only_agents_public_comments_reach_the_user(
    harness: HitlHarness, helpdesk: ZendeskHelpdesk, zendesk: FakeZendesk
) -> None:
    ticket_id = await open_ticket(harness, helpdesk)
    alice = zendesk.agent("Alice")
    zendesk.email_reply(ticket_id, "the user, replying by email")
    zendesk.agent_comment(ticket_id, alice, "an internal note", public=False)
    zendesk.agent_comment(
        ticket_id, alice, "here is your label", attachments=[("label.pdf", "application/pdf")]
    )
    await settle(harness, helpdesk)
    seen = await user_messages(harness)
    texts = [m.payload.get("text") for m in seen]
    assert "here is your label" in texts
    assert "the user, replying by email" not in texts and "an internal note" not in texts
    [document] = [m for m in seen if m.type == "file"]
    assert document.payload["title"] == "label.pdf"
    assert str(document.payload["fileUrl"]).endswith("/label.pdf")
    assert texts.count(JOINED) == 1, "the first agent comment assigns implicitly"


async def test_assignment_announces_the_agent_but_unassignment_does_not(
    harness: HitlHarness, helpdesk: ZendeskHelpdesk, zendesk: FakeZendesk
) -> None:
    ticket_id = await open_ticket(harness, helpdesk)
    zendesk.assign(ticket_id, zendesk.agent("Alice"))
    await settle(harness, helpdesk)
    zendesk.assign(ticket_id, None)
    responses = await zendesk.deliver()
    assert [r.json() for r in responses] == [{"ignored": "the ticket was unassigned"}]
    await settle(harness, helpdesk)
    assert (await harness.user_sees()).count(JOINED) == 1


async def test_solving_delivers_the_last_comment_before_handing_back(
    harness: HitlHarness, helpdesk: ZendeskHelpdesk, zendesk: FakeZendesk
) -> None:
    ticket_id = await open_ticket(harness, helpdesk)
    zendesk.solve(ticket_id, zendesk.agent("Alice"), "Refund issued, bye!")
    await settle(harness, helpdesk)
    seen = await harness.user_sees()
    assert seen[-2:] == ["Refund issued, bye!", CLOSED]
    assert seen.count("Refund issued, bye!") == 1
    await harness.say("back to you, bot")
    assert "back to you, bot" in harness.handled


async def test_a_ticket_deleted_in_zendesk_ends_the_session_cleanly(
    harness: HitlHarness, helpdesk: ZendeskHelpdesk, zendesk: FakeZendesk
) -> None:
    ticket_id = await open_ticket(harness, helpdesk)
    del zendesk.tickets[ticket_id]
    await harness.say("are you there?")
    await settle(harness, helpdesk)
    assert (await harness.user_sees())[-1] == CLOSED
    await harness.say("hi bot")
    assert "hi bot" in harness.handled


async def test_a_retried_start_never_files_a_second_ticket(
    harness: HitlHarness, helpdesk: ZendeskHelpdesk, zendesk: FakeZendesk
) -> None:
    zendesk.lose_answer.add("POST /api/v2/tickets")  # created, but the answer is lost
    ticket_id = await open_ticket(harness, helpdesk)
    assert zendesk.created["ticket"] == 1
    actions = harness.runtime.integrations.desk.actions
    user = await actions.create_user(name="Sam", email="sam@example.com")
    again = await actions.create_user(name="Sam", email="sam@example.com")
    assert user.model_dump() == again.model_dump()
    history = [{"source": {"type": "bot"}, "type": "text", "payload": {"text": "hi"}}]
    first = await actions.start_hitl(
        user_id=user.model_dump()["user_id"], title="Again", message_history=history
    )
    second = await actions.start_hitl(
        user_id=user.model_dump()["user_id"], title="Again", message_history=history
    )
    assert first.model_dump() == second.model_dump()
    assert zendesk.created["ticket"] == 2 and ticket_id in zendesk.tickets


async def test_stop_closes_with_the_configured_status(zendesk: FakeZendesk, tmp_path: Path) -> None:
    helpdesk = ZendeskHelpdesk(zendesk, closeStatus="solved")
    harness = await start_harness(helpdesk, tmp_path, agentAssignedTimeoutSeconds=0)
    try:
        ticket_id = await open_ticket(harness, helpdesk)
        await harness.say("/end")
        assert zendesk.tickets[ticket_id]["status"] == "solved"
        await settle(harness, helpdesk)  # the solved trigger fires; the session is over already
        assert (await harness.user_sees()).count(CLOSED) == 0
        assert zendesk.comments[ticket_id][-1]["author_id"] == API_USER_ID
    finally:
        await harness.runtime.stop()
        await harness.runtime.store.close()
