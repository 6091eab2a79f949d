"""Per-alias state kept in memory (client, outboxes) and in the store (the registration)."""

from __future__ import annotations

from typing import Any

from patchwire import Context
from patchwire.store import Conversation, StateScope
from patchwire_zendesk._client import ZendeskClient
from patchwire_zendesk._definition import ZendeskConfiguration
from patchwire_zendesk._outbox import Outboxes

__all__ = [
    "AGENT_ROLE",
    "BOT_USER_TAG",
    "REGISTRATION",
    "ROLE_TAG",
    "TICKET_TAG",
    "USER_TAG",
    "Desk",
    "desk",
]

TICKET_TAG = "zendeskTicketId"
"""Conversation tag: the Zendesk ticket a ``hitl`` conversation stands for."""
BOT_USER_TAG = "zendeskBotUserId"
"""Conversation tag: the Zendesk user that authors the bot's comments on that ticket."""
USER_TAG = "zendeskUserId"
"""User tag: the Zendesk user a patchwire user stands for."""
ROLE_TAG = "role"
AGENT_ROLE = "agent"
"""The HITL plugin counts users tagged ``role=agent`` as human agents."""

REGISTRATION: tuple[StateScope, str, str] = ("agent", "zendesk", "registration")
"""Where register keeps the webhook id, its signing secret and the trigger ids."""


class Desk:
    """What one alias needs between calls; one per context, made on first use."""

    def __init__(self, ctx: Context[ZendeskConfiguration]) -> None:
        self.ctx = ctx
        self.configuration = ctx.configuration
        self.client = ZendeskClient(self.configuration)
        self.outboxes = Outboxes(self.client, self.ticket_gone)
        self._registration: dict[str, Any] | None = None

    async def conversation(self, ticket_id: str) -> Conversation | None:
        """The ``hitl`` conversation of a ticket this alias opened, if any."""
        found = await self.ctx.find_conversations({TICKET_TAG: ticket_id}, own=True)
        return found[0] if found else None

    async def ticket_gone(self, ticket_id: str) -> None:
        """A deleted (or closed) ticket ends its session cleanly, once."""
        conversation = await self.conversation(ticket_id)
        if conversation is not None:
            await self.ctx.emit_event(
                "hitl_stopped",
                {"conversationId": conversation.id},
                conversation_id=conversation.id,
                dedupe_key=f"stopped:{ticket_id}",
            )

    async def registration(self) -> dict[str, Any] | None:
        if self._registration is None:
            scope, owner, name = REGISTRATION
            value = await self.ctx.get_state(scope, owner, name)
            self._registration = value if isinstance(value, dict) else None
        return self._registration

    async def save_registration(self, value: dict[str, Any] | None) -> None:
        scope, owner, name = REGISTRATION
        if value is None:
            await self.ctx.delete_state(scope, owner, name)
        else:
            await self.ctx.set_state(scope, owner, name, value)
        self._registration = value

    async def close(self) -> None:
        await self.outboxes.drain()
        await self.client.close()


def desk(ctx: Context[ZendeskConfiguration]) -> Desk:
    """The alias's desk, made on first use and closed (outboxes drained) when the agent stops."""
    return ctx.local(Desk)
