"""Per-ticket order and merge-on-throttle: nothing dropped, nothing reordered."""

from __future__ import annotations

import asyncio

from patchwire.testing.hitl import HitlHarness
from patchwire_zendesk import Comment
from patchwire_zendesk._outbox import _Item, merge

from .conftest import ZendeskHelpdesk
from .fake_zendesk import FakeZendesk
from .helpers import open_ticket, settle


async def test_a_burst_under_throttling_arrives_complete_and_in_order(
    harness: HitlHarness, helpdesk: ZendeskHelpdesk, zendesk: FakeZendesk
) -> None:
    ticket_id = await open_ticket(harness, helpdesk)
    zendesk.ticket_limit = (5, 1.0, 1.0)  # 5 updates per ticket per second, then 429
    conversation, user_id = await harness.user_conversation()
    user = harness.runtime.context("user")
    for n in range(50):
        await user.receive_message(
            conversation_id=conversation.id,
            user_id=user_id,
            type="text",
            payload={"text": f"message {n}"},
        )
    await asyncio.wait_for(settle(harness, helpdesk), timeout=30)
    relayed = zendesk.comments[ticket_id][1:]
    texts = "\n\n".join(comment["body"] for comment in relayed).split("\n\n")
    assert texts == [f"message {n}" for n in range(50)]
    assert zendesk.throttled >= 1
    assert len(relayed) < 50, "the backlog was merged into fewer comments"
    assert {c["author_id"] for c in relayed} == {zendesk.tickets[ticket_id]["requester_id"]}


def item(body: str | None, author: int | None = 1, status: str | None = None) -> _Item:
    comment = Comment(body, author) if body is not None else None
    return _Item(comment, status, asyncio.get_running_loop().create_future())


async def test_merging_keeps_authors_and_status_changes_in_place() -> None:
    updates = merge(
        [
            item("a"),
            item("b"),
            item("bot says", author=None),
            item("c"),
            item(None, status="closed"),
            item("after close"),
        ]
    )
    assert [u.fields() for u in updates] == [
        {"comment": {"body": "a\n\nb", "public": True, "author_id": 1}},
        {"comment": {"body": "bot says", "public": True}},
        {"comment": {"body": "c", "public": True, "author_id": 1}, "status": "closed"},
        {"comment": {"body": "after close", "public": True, "author_id": 1}},
    ]


async def test_merged_comments_stay_below_the_size_limit() -> None:
    big = "x" * 40_000
    assert len(merge([item(big), item(big), item("small")])) == 2
