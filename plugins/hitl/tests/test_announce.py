"""The ``patchwire.handoff`` announcements: none where the channel takes no events, and a
failing one never stops the handoff. (The web chat side is in tests/test_webchat_browser.py.)"""

from __future__ import annotations

import logging
from typing import Any

import pytest
from sqlalchemy import func, select

from patchwire.store._tables import EventRow
from patchwire.testing.hitl import HitlHarness
from patchwire_hitl import Session
from patchwire_hitl._announce import announce


async def events_of_type(harness: HitlHarness, type_: str) -> int:
    async with harness.runtime.store.engine.connect() as session:
        query = select(func.count()).select_from(EventRow).where(EventRow.type == type_)
        return int(await session.scalar(query) or 0)


async def test_a_channel_without_events_gets_no_announcement(hitl_harness: HitlHarness) -> None:
    await hitl_harness.start()
    (remote,) = await hitl_harness.helpdesk.opened()
    await hitl_harness.helpdesk.assign(remote, "Sam")
    await hitl_harness.settle()
    await hitl_harness.helpdesk.close(remote)
    await hitl_harness.settle()
    assert await events_of_type(hitl_harness, "hitl.hitl_started") == 1
    assert await events_of_type(hitl_harness, "hitl.hitl_stopped") == 1
    assert await events_of_type(hitl_harness, "hitl.custom") == 0


class BrokenChannel:
    """A context whose channel says it takes events, then fails to deliver one."""

    alias = "hitl"

    def __init__(self) -> None:
        self.attempts = 0

    async def takes_events(self, conversation_id: str) -> bool:
        return True

    async def send_event(self, **fields: Any) -> None:
        self.attempts += 1
        raise ConnectionError("the channel is down")


async def test_a_failing_announcement_is_logged_not_raised(
    caplog: pytest.LogCaptureFixture,
) -> None:
    session = Session.model_validate(
        {
            "id": "s1",
            "active": True,
            "upstreamId": "c1",
            "initiatingUserId": "u1",
            "configuration": {},
        }
    )
    ctx = BrokenChannel()
    with caplog.at_level(logging.WARNING, logger="patchwire_hitl"):
        await announce(ctx, "hitl_started", session, {})  # type: ignore[arg-type]
        await announce(ctx, "continue_workflow", session, {})  # type: ignore[arg-type]
    assert ctx.attempts == 1, "continue_workflow is not a handoff state"
    assert "could not announce handoff waiting of session s1 in conversation c1" in caplog.text
