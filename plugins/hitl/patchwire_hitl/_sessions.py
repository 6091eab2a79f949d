"""Reading and writing sessions through the host API of one plugin alias."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from patchwire import Context
from patchwire.store import Conversation
from patchwire_hitl._announce import announce
from patchwire_hitl._config import HitlConfiguration
from patchwire_hitl._session import SESSION_STATE, EndReason, Names, Session
from patchwire_hitl._texts import text_for

__all__ = ["Sessions"]


class Sessions:
    """One plugin instance's view of its sessions."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.names = Names(ctx.alias)

    @property
    def configuration(self) -> HitlConfiguration:
        assert isinstance(self.ctx.configuration, HitlConfiguration)
        return self.ctx.configuration

    @property
    def actions(self) -> Any:
        """The bound integration's ``hitl`` actions."""
        return self.ctx.interfaces.hitl.actions

    async def get(self, upstream_id: str) -> Session | None:
        stored = await self.ctx.get_state("conversation", upstream_id, SESSION_STATE)
        return None if stored is None else Session.model_validate(stored)

    async def save(self, session: Session) -> None:
        await self.ctx.set_state(
            "conversation", session.upstream_id, SESSION_STATE, session.model_dump(mode="json")
        )

    async def active(self, upstream_id: str) -> Session | None:
        session = await self.get(upstream_id)
        return session if session is not None and session.active else None

    async def for_downstream(self, downstream: Conversation) -> Session | None:
        """The active session whose downstream conversation this is."""
        upstream_id = downstream.tags.get(self.names.upstream)
        if upstream_id is None:
            return None
        session = await self.active(upstream_id)
        return session if session is not None and session.downstream_id == downstream.id else None

    async def say(self, conversation_id: str, session: Session | None, field: str) -> None:
        """Send a configured text as the bot (nothing for ``NULL``)."""
        text = text_for(session.configuration if session else self.configuration, field)
        if text is not None:
            await self.send_text(conversation_id, text)

    async def send_text(self, conversation_id: str, text: str) -> None:
        await self.ctx.send_message(
            conversation_id=conversation_id, type="text", payload={"text": text}
        )

    async def mark_ended(self, session: Session, reason: EndReason) -> Session:
        """Mark the session inactive (first, always: see the ordering invariant)."""
        ended = session.model_copy(
            update={"active": False, "end_reason": reason, "ended_at": datetime.now(UTC)}
        )
        await self.save(ended)
        if session.timeout_event_id is not None:
            await self.ctx.cancel_event(session.timeout_event_id)
        return ended

    async def lifecycle(self, name: str, session: Session, **payload: Any) -> None:
        """An event for agent code (``<alias>.<name>``) on the upstream conversation."""
        await self.ctx.emit_event(
            name,
            {
                "sessionId": session.id,
                "conversationId": session.upstream_id,
                "downstreamConversationId": session.downstream_id,
                **payload,
            },
            conversation_id=session.upstream_id,
            user_id=session.initiating_user_id,
        )
        await announce(self.ctx, name, session, payload)
