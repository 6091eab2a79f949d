"""Reading and changing sessions through the host API of one plugin alias."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from patchwire import Context
from patchwire.store import Conversation
from patchwire_hitl import _metrics as metrics
from patchwire_hitl._announce import announce
from patchwire_hitl._config import HitlConfiguration
from patchwire_hitl._session import SESSION_STATE, EndReason, Names, Session
from patchwire_hitl._texts import text_for

__all__ = ["Sessions", "Step"]

Step = Callable[[Session | None], Session | None]
"""A pure change of a session record: the new record, or None to leave it as it is."""


class Sessions:
    """One plugin instance's view of its sessions."""

    def __init__(self, ctx: Context[HitlConfiguration]) -> None:
        self.ctx = ctx
        self.names = Names(ctx.alias)

    @property
    def configuration(self) -> HitlConfiguration:
        return self.ctx.configuration

    @property
    def actions(self) -> Any:
        """The bound integration's ``hitl`` actions."""
        return self.ctx.interfaces.hitl.actions

    async def get(self, upstream_id: str) -> Session | None:
        stored = await self.ctx.get_state("conversation", upstream_id, SESSION_STATE)
        return None if stored is None else Session.model_validate(stored)

    async def change(self, upstream_id: str, step: Step) -> Session | None:
        """Apply ``step`` to the stored record atomically; the new record, or None if it declined.

        The record is compared and set in one transaction, so of two processes making the
        same change (ending a session, say) exactly one gets the new record back and acts on
        it. The index tags follow every change.
        """
        outcome: list[Session | None] = [None, None]

        def change(stored: Any | None) -> Any | None:
            current = None if stored is None else Session.model_validate(stored)
            outcome[:] = [current, step(current)]
            return stored if outcome[1] is None else outcome[1].model_dump(mode="json")

        await self.ctx.update_state("conversation", upstream_id, SESSION_STATE, change)
        before, changed = outcome
        if changed is not None:
            index = self.names.index(changed)
            if before is None or self.names.index(before) != index:
                await self.ctx.update_conversation(upstream_id, tags=index)
        return changed

    async def update(self, session: Session, **fields: Any) -> Session | None:
        """Set ``fields`` on the session if it is still the same, still running one."""
        return await self.change(
            session.upstream_id,
            lambda current: (
                current.model_copy(update=fields)
                if current is not None and current.id == session.id and current.ended_at is None
                else None
            ),
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

    async def say(
        self,
        conversation_id: str,
        session: Session | None,
        field: str,
        *,
        agent_name: str | None = None,
    ) -> None:
        """Send a configured text as the bot (nothing for ``NULL``)."""
        configuration = session.configuration if session else self.configuration
        text = text_for(configuration, field, agent_name=agent_name)
        if text is not None:
            await self.send_text(conversation_id, text)

    async def send_text(self, conversation_id: str, text: str) -> None:
        await self.ctx.send_message(
            conversation_id=conversation_id, type="text", payload={"text": text}
        )

    async def mark_ended(self, session: Session, reason: EndReason) -> Session | None:
        """Mark the session ended (first, always: see the ordering invariant).

        Returns the ended record, or None when another handler ended it first: then the
        caller does nothing more, so every end is acted on once.
        """
        newest = await self.ctx.list_messages(session.upstream_id, limit=1)
        last_message_id = newest.messages[0].id if newest.messages else None
        moment = datetime.now(UTC)
        timers: list[str] = []

        def end(current: Session | None) -> Session | None:
            if current is None or current.id != session.id or current.ended_at is not None:
                return None
            timers[:] = [t for t in (current.timeout_event_id, current.idle_event_id) if t]
            return current.model_copy(
                update={
                    "active": False,
                    "end_reason": reason,
                    "ended_at": moment,
                    "last_message_id": last_message_id,
                    "timeout_event_id": None,
                    "idle_wait_id": None,
                    "idle_event_id": None,
                }
            )

        ended = await self.change(session.upstream_id, end)
        if ended is not None:
            metrics.ended(self.ctx, ended)
            for timer in timers:
                await self.ctx.cancel_event(timer)
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
