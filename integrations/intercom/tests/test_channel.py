"""The user's messages as Intercom replies of type user; the plugin's notices as notes."""

from __future__ import annotations

from typing import Any

from patchwire.testing.hitl import HitlHarness

from .conftest import start_session
from .fake_intercom import FakeIntercom


def replies(intercom: FakeIntercom, remote: str) -> list[dict[str, Any]]:
    return [
        body
        for method, path, body in intercom.requests
        if method == "POST" and path == f"/conversations/{remote}/reply"
    ]


async def test_user_messages_are_replies_of_the_contact(
    harness: HitlHarness, intercom: FakeIntercom
) -> None:
    remote = await start_session(harness)
    await harness.say("where is it?")
    reply = replies(intercom, remote)[-1]
    contact_id = intercom.conversations[remote].contact_id
    assert reply == {
        "message_type": "comment",
        "type": "user",
        "intercom_user_id": contact_id,
        "body": "where is it?",
    }
    [part] = [p for p in intercom.conversations[remote].parts if p["body"] == "where is it?"]
    assert part["author"] == {
        "type": "user",
        "id": contact_id,
        "name": "User u1",
        "email": None,
        "from_ai_agent": False,
        "is_ai_answer": False,
    }


async def test_images_and_files_are_attachment_urls_and_a_bloc_is_one_reply(
    harness: HitlHarness, intercom: FakeIntercom
) -> None:
    remote = await start_session(harness)
    before = len(replies(intercom, remote))
    await harness.say("", type="image", payload={"imageUrl": "https://example.com/a.png"})
    await harness.say(
        "", type="file", payload={"fileUrl": "https://example.com/a.pdf", "title": "invoice"}
    )
    await harness.say("", type="audio", payload={"audioUrl": "https://example.com/a.mp3"})
    await harness.say(
        "",
        type="bloc",
        payload={
            "items": [
                {"type": "text", "payload": {"text": "two photos"}},
                {"type": "image", "payload": {"imageUrl": "https://example.com/1.png"}},
                {"type": "image", "payload": {"imageUrl": "https://example.com/2.png"}},
            ]
        },
    )
    sent = [(r["body"], r.get("attachment_urls")) for r in replies(intercom, remote)[before:]]
    assert sent == [
        ("https://example.com/a.png", ["https://example.com/a.png"]),
        ("invoice: https://example.com/a.pdf", ["https://example.com/a.pdf"]),
        ("https://example.com/a.mp3", None),
        (
            "two photos\nhttps://example.com/1.png\nhttps://example.com/2.png",
            ["https://example.com/1.png", "https://example.com/2.png"],
        ),
    ]


async def test_the_plugins_notices_are_notes_the_contact_does_not_see(
    harness: HitlHarness, intercom: FakeIntercom
) -> None:
    remote = await start_session(harness)
    await harness.say("/end")
    note = replies(intercom, remote)[-1]
    assert note == {
        "message_type": "note",
        "type": "admin",
        "admin_id": intercom.bot,
        "body": "<p>( The user has ended the session. )</p>",
    }
