"""The hooks: relay messages both ways while a session is active, and keep the agent paused."""

from __future__ import annotations

from typing import Any

from patchwire import STOP, Context
from patchwire.store import Conversation, Event, Message
from patchwire_hitl._ending import abort, agent_closed, assignment_timed_out, user_closed
from patchwire_hitl._linking import downstream_user
from patchwire_hitl._session import Session
from patchwire_hitl._sessions import Sessions
from patchwire_hitl._texts import (
    FALLBACK_AGENT_NAME,
    RELAYED_TYPES,
    UNSUPPORTED_TYPE_TEXT,
    close_command,
)

__all__ = ["AGENT_ROLE_TAG", "LIFECYCLE_EVENTS", "before_incoming_event", "before_incoming_message"]

AGENT_ROLE_TAG = "role"
"""Integrations tag the users that stand for human agents ``role=agent``."""

LIFECYCLE_EVENTS = ("hitl_started", "hitl_assigned", "hitl_stopped", "continue_workflow")


async def before_incoming_message(ctx: Context, message: Message) -> Any:
    sessions = Sessions(ctx)
    conversation = await ctx.get_conversation(message.conversation_id)
    assert conversation is not None
    if conversation.integration == ctx.bound_integration("hitl"):
        await _from_agent(sessions, conversation, message)
        return STOP
    session = await sessions.active(conversation.id)
    if session is None:
        return None
    await _from_user(sessions, session, message)
    return STOP


async def _from_user(sessions: Sessions, session: Session, message: Message) -> None:
    if message.type not in RELAYED_TYPES:
        await sessions.send_text(session.upstream_id, UNSUPPORTED_TYPE_TEXT)
        return
    if session.downstream_id is None:
        await abort(sessions, session, "the upstream conversation has no downstream link")
        return
    command = close_command(session.configuration)
    text = message.payload.get("text")
    if command is not None and isinstance(text, str) and text.strip().lower() == command:
        await user_closed(sessions, session)
        return
    author = await sessions.ctx.get_user(message.user_id) if message.user_id else None
    payload = dict(message.payload)
    if author is not None:
        payload["userId"] = await downstream_user(sessions, author)
    await sessions.ctx.send_message(
        conversation_id=session.downstream_id,
        type=message.type,
        payload=payload,
        tags={sessions.names.upstream: message.id},
    )


async def _from_agent(sessions: Sessions, downstream: Conversation, message: Message) -> None:
    session = await sessions.for_downstream(downstream)
    if session is None:
        return
    author = await sessions.ctx.get_user(message.user_id) if message.user_id else None
    if author is not None and author.tags.get(AGENT_ROLE_TAG) == "agent":
        session = await _assign(sessions, session, author.id)
    payload = {k: v for k, v in message.payload.items() if k != "userId"}
    tags = {sessions.names.downstream: message.id}
    additional = payload.pop("additionalData", None)
    if isinstance(additional, str):
        tags[f"{sessions.ctx.alias}.additionalData"] = additional
    shown_as = (
        author.id if author is not None and session.configuration.use_human_agent_info else None
    )
    await sessions.ctx.send_message(
        conversation_id=session.upstream_id,
        type=message.type,
        payload=payload,
        user_id=shown_as,
        tags=tags,
    )


async def _assign(sessions: Sessions, session: Session, agent_id: str) -> Session:
    """Record the agent; the user hears "joined" only when the agent changes."""
    if session.assigned_agent_id == agent_id:
        return session
    agent = await sessions.ctx.get_user(agent_id)
    name = (agent.name if agent is not None else None) or FALLBACK_AGENT_NAME
    if session.timeout_event_id is not None:
        await sessions.ctx.cancel_event(session.timeout_event_id)
    session = session.model_copy(
        update={
            "assigned_agent_id": agent_id,
            "assigned_agent_name": name,
            "timeout_event_id": None,
        }
    )
    await sessions.save(session)
    await sessions.say(session.upstream_id, session, "on_human_agent_assigned_message")
    await sessions.lifecycle("hitl_assigned", session, agentId=agent_id, agentName=name)
    return session


async def before_incoming_event(ctx: Context, event: Event) -> Any:
    sessions = Sessions(ctx)
    bound = ctx.bound_integration("hitl")
    if event.type == f"{ctx.alias}.assignment_timeout":
        session = await sessions.active(event.conversation_id or "")
        if (
            session is not None
            and session.id == event.payload.get("sessionId")
            and session.assigned_agent_id is None
        ):
            await assignment_timed_out(sessions, session)
        return STOP
    if event.type in (f"{bound}.hitl_assigned", f"{bound}.hitl_stopped"):
        downstream_id = str(event.payload.get("conversationId", event.conversation_id or ""))
        downstream = await ctx.get_conversation(downstream_id)
        session = await sessions.for_downstream(downstream) if downstream else None
        if session is not None:
            if event.type.endswith(".hitl_assigned"):
                await _assign(sessions, session, str(event.payload["userId"]))
            else:
                await agent_closed(sessions, session)
        return STOP
    if event.source == ctx.alias and event.type.removeprefix(f"{ctx.alias}.") in LIFECYCLE_EVENTS:
        return None
    if event.conversation_id and await sessions.active(event.conversation_id):
        return STOP
    return None
