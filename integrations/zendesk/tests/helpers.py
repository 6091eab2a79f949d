"""Shared steps of the integration tests."""

from __future__ import annotations

from typing import Any

from patchwire.store import Message
from patchwire.testing.hitl import HitlHarness

from .conftest import ZendeskHelpdesk


async def open_ticket(harness: HitlHarness, helpdesk: ZendeskHelpdesk, **entity: Any) -> int:
    """A user talks to the bot, then is handed to Zendesk; the new ticket's id."""
    await harness.say("my order is late")
    conversation, user_id = await harness.user_conversation()
    await harness.runtime.plugins.hitl.actions.start_hitl(
        title="Help",
        conversation_id=conversation.id,
        user_id=user_id,
        hitl_session=entity or None,
    )
    await harness.settle()
    [remote] = await helpdesk.opened()
    return int(remote)


async def settle(harness: HitlHarness, helpdesk: ZendeskHelpdesk) -> None:
    """Run queued jobs, deliver Zendesk's webhooks, drain the outboxes, run jobs again."""
    await harness.settle()
    await helpdesk.settle()
    await harness.settle()


async def user_messages(harness: HitlHarness) -> list[Message]:
    conversation, _ = await harness.user_conversation()
    return list(harness.channel.outbox[conversation.id])
