"""Notifications: signature first, replays and redeliveries once, echoes and notes ignored."""

from __future__ import annotations

import json

from patchwire.testing.hitl import HitlHarness
from patchwire_intercom import (
    CONVERSATION_TAG,
    HEADER,
    IntercomClient,
    IntercomConfiguration,
)

from .conftest import IntercomHelpdesk, start_session
from .fake_intercom import CLIENT_SECRET, TOKEN, FakeIntercom, signature


async def agent_texts(harness: HitlHarness) -> list[str]:
    fixed = ("A human agent", "I have escalated", "The human agent closed", "bot: ")
    return [t for t in await harness.user_sees() if not t.startswith(fixed)]


async def stored_messages(harness: HitlHarness, remote: str) -> int:
    """Messages in the user's conversation and in the session's, in patchwire's store."""
    user_conversation, _ = await harness.user_conversation()
    found = await harness.runtime.store.find_conversations({CONVERSATION_TAG: remote})
    total = 0
    for conversation in [user_conversation, *found]:
        page = await harness.runtime.store.list_messages(conversation.id, limit=500)
        total += len(page.messages)
    return total


async def test_forged_unsigned_and_malformed_signatures_are_refused_and_store_nothing(
    harness: HitlHarness, helpdesk: IntercomHelpdesk, intercom: FakeIntercom
) -> None:
    remote = await start_session(harness)
    await helpdesk.deliver()
    intercom.admin_reply(remote, intercom.admin_named("Eve"), "<p>forged reply</p>")
    [delivery] = intercom.outbox
    intercom.outbox.clear()
    before = await stored_messages(harness, remote)
    forged = await helpdesk.post(
        delivery.raw, {HEADER: signature("not-the-client-secret", delivery.raw)}
    )
    unsigned = await helpdesk.post(delivery.raw, {})
    malformed = await helpdesk.post(delivery.raw, {HEADER: "sha256=abc"})
    tampered = await helpdesk.post(
        delivery.raw.replace(b"forged reply", b"tampered!!!"), delivery.headers
    )
    assert [r.status_code for r in (forged, unsigned, malformed, tampered)] == [401] * 4
    assert "clientSecret" in forged.json()["error"]
    assert "missing X-Hub-Signature" in unsigned.json()["error"]
    assert "malformed" in malformed.json()["error"]
    await harness.settle()
    assert await stored_messages(harness, remote) == before
    assert await agent_texts(harness) == []


async def test_a_replayed_notification_is_acknowledged_and_stores_nothing(
    harness: HitlHarness, helpdesk: IntercomHelpdesk, intercom: FakeIntercom
) -> None:
    remote = await start_session(harness)
    intercom.admin_reply(remote, intercom.admin_named("Alice"), "<p>hello once</p>")
    [delivery] = [d for d in await helpdesk.deliver() if d.topic.endswith("replied")]
    await harness.settle()
    before = await stored_messages(harness, remote)
    replayed = await helpdesk.post(delivery.raw, delivery.headers)
    assert replayed.status_code == 200
    assert replayed.json()["duplicate"] is True
    assert replayed.json()["result"] == "relayed 0"
    await harness.settle()
    assert await stored_messages(harness, remote) == before
    assert await agent_texts(harness) == ["hello once"]


async def test_the_same_part_in_two_notifications_reaches_the_user_once(
    harness: HitlHarness, helpdesk: IntercomHelpdesk, intercom: FakeIntercom
) -> None:
    remote = await start_session(harness)
    intercom.admin_reply(remote, intercom.admin_named("Alice"), "<p>one part</p>")
    [delivery] = [d for d in intercom.outbox if d.topic.endswith("replied")]
    again = json.loads(delivery.raw)
    again["id"] = "notif_another-delivery"
    raw = json.dumps(again).encode()
    await helpdesk.deliver()
    response = await helpdesk.post(raw, {HEADER: signature(CLIENT_SECRET, raw)})
    assert response.json() == {
        "ok": True,
        "topic": "conversation.admin.replied",
        "result": "relayed 0",
        "duplicate": False,
    }
    await harness.settle()
    assert await agent_texts(harness) == ["one part"]


async def test_ping_is_accepted(harness: HitlHarness, helpdesk: IntercomHelpdesk) -> None:
    ping = {
        "type": "notification_event",
        "app_id": "fakeapp1",
        "id": "notif_ping",
        "topic": "ping",
        "data": {"type": "notification_event_data", "item": {"type": "ping", "message": "hi"}},
    }
    raw = json.dumps(ping).encode()
    response = await helpdesk.post(raw, {HEADER: signature(CLIENT_SECRET, raw)})
    assert (response.status_code, response.json()) == (
        200,
        {"ok": True, "topic": "ping", "result": "pong"},
    )


async def test_own_notes_assignments_and_bot_replies_are_not_relayed(
    harness: HitlHarness, helpdesk: IntercomHelpdesk, intercom: FakeIntercom
) -> None:
    team = intercom.add_team("Support")
    remote = await start_session(harness, title="Help", hitl_session={"teamId": team})
    await harness.say("a user message")
    fin = intercom.add_admin("Fin")
    intercom.admin_reply(remote, fin, "<p>I am an AI answer</p>", author_type="bot")
    intercom.admin_note(remote, intercom.admin_named("Alice"), "<p>internal: check order</p>")
    async with IntercomClient(
        IntercomConfiguration(access_token=TOKEN, client_secret="x", base_url=intercom.url)
    ) as client:
        await client.post(
            f"/conversations/{remote}/reply",
            {
                "message_type": "comment",
                "type": "admin",
                "admin_id": intercom.bot,
                "body": "echo of something patchwire sent",
            },
        )
    delivered = await helpdesk.deliver()
    assert {d.topic for d in delivered} == {
        "conversation.admin.assigned",
        "conversation.admin.open.assigned",
        "conversation.admin.replied",
    }
    results = [response.json()["result"] for _, response in helpdesk.delivered]
    assert results.count("ignored: assigned to a team or to nobody") == 2
    await harness.settle()
    assert await agent_texts(harness) == []
    assert "a user message" in intercom.received(remote)


async def test_notes_and_unused_topics_are_acknowledged_when_subscribed_anyway(
    harness: HitlHarness, helpdesk: IntercomHelpdesk, intercom: FakeIntercom
) -> None:
    intercom.subscribed |= {"conversation.admin.noted", "conversation.user.replied"}
    remote = await start_session(harness)
    intercom.admin_note(remote, intercom.admin_named("Alice"), "<p>internal</p>")
    await harness.say("from the user")
    await helpdesk.deliver()
    results = {d.topic: r.json()["result"] for d, r in helpdesk.delivered}
    assert results["conversation.admin.noted"] == "ignored: notes are not relayed"
    assert results["conversation.user.replied"].startswith("ignored: topic")
    await harness.settle()
    assert await agent_texts(harness) == []


async def test_conversations_patchwire_did_not_open_are_ignored(
    harness: HitlHarness, helpdesk: IntercomHelpdesk, intercom: FakeIntercom
) -> None:
    await start_session(harness)
    other = intercom.add_contact(name="Someone else", external_id="other-1")
    async with IntercomClient(
        IntercomConfiguration(access_token=TOKEN, client_secret="x", base_url=intercom.url)
    ) as client:
        message = await client.post(
            "/conversations", {"from": {"type": "user", "id": other["id"]}, "body": "hi"}
        )
    intercom.admin_reply(message["conversation_id"], intercom.admin_named("Bob"), "<p>hi</p>")
    await helpdesk.deliver()
    assert (
        helpdesk.delivered[-1][1].json()["result"] == "ignored: not a conversation patchwire opened"
    )


async def test_an_assignment_names_the_agent_from_intercom(
    harness: HitlHarness, helpdesk: IntercomHelpdesk, intercom: FakeIntercom
) -> None:
    remote = await start_session(harness)
    carol = intercom.add_admin("Carol")
    intercom.assign(remote, carol, by=intercom.bot)
    await helpdesk.deliver()
    await harness.settle()
    assert (await harness.user_sees()).count("A human agent has joined the conversation.") == 1
    [agent] = await harness.runtime.store.find_users({"intercomAdminId": carol})
    assert agent.name == "Carol" and agent.tags["role"] == "agent"


async def test_html_bodies_from_older_webhook_versions_become_text(
    harness: HitlHarness, helpdesk: IntercomHelpdesk, intercom: FakeIntercom
) -> None:
    intercom.plain_text_webhooks = False
    remote = await start_session(harness)
    body = '<p>Hello &amp; welcome</p><p>See <a href="https://example.com/faq">the FAQ</a></p>'
    intercom.admin_reply(remote, intercom.admin_named("Alice"), body)
    await helpdesk.deliver()
    await harness.settle()
    assert await agent_texts(harness) == [
        "Hello & welcome\n\nSee the FAQ (https://example.com/faq)"
    ]


async def test_agent_attachments_become_images_files_or_one_bloc(
    harness: HitlHarness, helpdesk: IntercomHelpdesk, intercom: FakeIntercom
) -> None:
    remote = await start_session(harness)
    alice = intercom.admin_named("Alice")
    image = {
        "type": "upload",
        "name": "a.png",
        "url": "https://example.com/a.png",
        "content_type": "image/png",
    }
    pdf = dict(image, name="a.pdf", url="https://example.com/a.pdf", content_type="application/pdf")
    intercom.admin_reply(remote, alice, "", attachments=[image])
    intercom.admin_reply(remote, alice, "<p>here you go</p>", attachments=[pdf])
    await helpdesk.deliver()
    await harness.settle()
    conversation, _ = await harness.user_conversation()
    page = await harness.runtime.store.list_messages(conversation.id, limit=50)
    relayed = [(m.type, m.payload) for m in reversed(page.messages) if m.type != "text"]
    assert relayed == [
        ("image", {"imageUrl": "https://example.com/a.png", "title": "a.png"}),
        (
            "bloc",
            {
                "items": [
                    {"type": "text", "payload": {"text": "here you go"}},
                    {
                        "type": "file",
                        "payload": {"fileUrl": "https://example.com/a.pdf", "title": "a.pdf"},
                    },
                ]
            },
        ),
    ]


async def test_a_signed_but_malformed_notification_is_a_400(
    harness: HitlHarness, helpdesk: IntercomHelpdesk
) -> None:
    bodies = [
        b"not json",
        json.dumps({"topic": "conversation.admin.replied", "data": {"item": {"id": "1"}}}).encode(),
        json.dumps(
            {"id": "n1", "topic": "conversation.admin.closed", "data": {"item": {}}}
        ).encode(),
    ]
    for raw in bodies:
        response = await helpdesk.post(raw, {HEADER: signature(CLIENT_SECRET, raw)})
        assert response.status_code == 400, response.text
        assert response.json()["error"].startswith("malformed body: ")
