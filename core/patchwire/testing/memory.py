"""An in-memory helpdesk implementing ``hitl``, with a scripted human agent.

It is what the HITL plugin and the conformance kit are tested against, and a model for an
integration's own ``Helpdesk`` driver. ``entity`` names its ``hitlSession`` entity, so one
class gives both ``hitl<hitlSession>`` and ``hitl<hitlTicket>`` implementations.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Mapping
from typing import Any

from patchwire import (
    Context,
    EntityDefinition,
    Integration,
    IntegrationDefinition,
    WireModel,
    implements,
)
from patchwire.interfaces.hitl import (
    CreateUserInput,
    StartHitlInput,
    StopHitlInput,
)
from patchwire.interfaces.hitl import definition as hitl
from patchwire.messages import as_text
from patchwire.runtime import Runtime
from patchwire.store import Message

__all__ = ["MemoryHelpdesk", "Ticket"]


class Ticket(WireModel):
    """The entity: what agent code may pass as ``hitl_session``."""

    priority: str | None = None
    queue: str | None = None


class OutsideSystemDown(ConnectionError):
    pass


class MemoryHelpdesk:
    """The integration (``integration``) and the human agent's side (the other methods)."""

    def __init__(self, name: str = "memory-helpdesk", entity: str = "hitlSession") -> None:
        self.implementation_key = f"hitl<{entity}>"
        self.configuration: Mapping[str, Any] = {}
        self.down = False
        self.stalled: asyncio.Event | None = None
        self.closed: set[str] = set()
        self.tickets: dict[str, Ticket | None] = {}
        self._received: dict[str, list[str]] = {}
        self._conversations: dict[str, str] = {}
        self._ctx: Context | None = None
        self.integration = Integration(
            IntegrationDefinition(
                name=name,
                version="1.0.0",
                entities={entity: EntityDefinition(model=Ticket)},
                implements=[implements(hitl, entities={"hitlSession": entity})],
            )
        )
        self._register()

    def _reachable(self, ctx: Context) -> None:
        if self.down:
            raise OutsideSystemDown("the helpdesk is not answering")

    def _register(self) -> None:
        integration = self.integration

        @integration.action("create_user")
        async def create_user(ctx: Context, data: CreateUserInput) -> dict[str, str]:
            self._reachable(ctx)
            if self.stalled is not None:
                self.stalled.set()
                await asyncio.Event().wait()  # until cancelled, as if the process died
            user = await ctx.create_user(name=data.name, tags={"email": data.email or ""})
            return {"user_id": user.id}

        @integration.action("start_hitl")
        async def start_hitl(ctx: Context, data: StartHitlInput) -> dict[str, str]:
            self._reachable(ctx)
            remote = uuid.uuid4().hex[:10]
            self._received[remote] = [as_text(m.type, m.payload) for m in data.message_history]
            self.tickets[remote] = data.hitl_session  # type: ignore[assignment]
            conversation = await ctx.create_conversation(channel="hitl", tags={"remoteId": remote})
            self._conversations[remote] = conversation.id
            return {"conversation_id": conversation.id}

        @integration.action("stop_hitl")
        async def stop_hitl(ctx: Context, data: StopHitlInput) -> dict[str, str]:
            self._reachable(ctx)
            conversation = await ctx.get_conversation(data.conversation_id)
            if conversation is not None:
                self.closed.add(conversation.tags["remoteId"])
            return {}

        async def deliver(ctx: Context, message: Message) -> None:
            self._reachable(ctx)
            conversation = await ctx.get_conversation(message.conversation_id)
            assert conversation is not None
            self._received[conversation.tags["remoteId"]].append(
                as_text(message.type, message.payload)
            )

        integration.sender("hitl")(deliver)

    # --- the human agent's side -----------------------------------------------------------

    def attach(self, runtime: Runtime, alias: str) -> None:
        self._ctx = runtime.context(alias, "integration")

    @property
    def ctx(self) -> Context:
        if self._ctx is None:
            raise RuntimeError("the helpdesk is not attached to a running agent")
        return self._ctx

    async def opened(self) -> list[str]:
        return list(self._received)

    async def received(self, remote_id: str) -> list[str]:
        return list(self._received[remote_id])

    async def _agent(self, name: str) -> str:
        user = await self.ctx.get_or_create_user(
            tags={"memoryAgent": name, "role": "agent"}, name=name
        )
        return user.id

    async def assign(self, remote_id: str, agent_name: str) -> None:
        conversation_id = self._conversations[remote_id]
        await self.ctx.emit_event(
            "hitl_assigned",
            {"conversationId": conversation_id, "userId": await self._agent(agent_name)},
            conversation_id=conversation_id,
        )

    async def reply(
        self,
        remote_id: str,
        type: str,
        payload: Mapping[str, Any],
        *,
        message_id: str,
        agent_name: str = "Alice",
    ) -> None:
        await self.ctx.receive_message(
            conversation_id=self._conversations[remote_id],
            user_id=await self._agent(agent_name),
            type=type,
            payload=payload,
            dedupe_key=message_id,
        )

    async def close(self, remote_id: str) -> None:
        conversation_id = self._conversations[remote_id]
        await self.ctx.emit_event(
            "hitl_stopped", {"conversationId": conversation_id}, conversation_id=conversation_id
        )

    def go_down(self) -> None:
        self.down = True

    def stall(self) -> asyncio.Event:
        """Make ``create_user`` hang until cancelled (and ``come_back``); set once it hangs."""
        self.stalled = asyncio.Event()
        return self.stalled

    def come_back(self) -> None:
        self.down = False
        self.stalled = None
