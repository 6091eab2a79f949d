"""The hooks: relay messages both ways while a session is active, and keep the agent paused."""

from __future__ import annotations

import logging
from typing import Any

from patchwire import STOP, Context
from patchwire.runtime import HUMAN_AGENT_METADATA, MessageError
from patchwire.store import Conversation, Event, Message, User
from patchwire_hitl._assignment import assign
from patchwire_hitl._config import HitlConfiguration
from patchwire_hitl._ending import abort, agent_closed, assignment_timed_out, user_closed
from patchwire_hitl._idle import IDLE_EVENT, arm, disarm, fire
from patchwire_hitl._linking import downstream_user
from patchwire_hitl._roles import is_human_agent
from patchwire_hitl._session import Session
from patchwire_hitl._sessions import Sessions
from patchwire_hitl._texts import (
    ABORT_TEXT,
    RELAYED_TYPES,
    UNSUPPORTED_TYPE_TEXT,
    close_command,
)

__all__ = [
    "LIFECYCLE_EVENTS",
    "before_incoming_event",
    "before_incoming_message",
]

logger = logging.getLogger("patchwire_hitl")

LIFECYCLE_EVENTS = (
    "hitl_started",
    "hitl_assigned",
    "hitl_transferred",
    "hitl_stopped",
    "continue_workflow",
)


async def before_incoming_message(ctx: Context[HitlConfiguration], message: Message) -> Any:
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
    await arm(sessions, session, message.created_at)


async def _from_agent(sessions: Sessions, downstream: Conversation, message: Message) -> None:
    session = await sessions.for_downstream(downstream)
    if session is None:
        if not await _linked(sessions, downstream):
            logger.error(
                "message %s on helpdesk conversation %s: no user conversation is linked to it",
                message.id,
                downstream.id,
            )
            await sessions.send_text(downstream.id, ABORT_TEXT)
        return  # otherwise the session ended: nothing is said in a closed ticket
    author = await sessions.ctx.get_user(message.user_id) if message.user_id else None
    is_agent = is_human_agent(author)
    if author is not None and is_agent:
        session = await assign(sessions, session, author.id, explicit=False)
    if not await _relay_to_user(sessions, session, message, author):
        return
    if is_agent:
        await disarm(sessions, session)


async def _linked(sessions: Sessions, downstream: Conversation) -> bool:
    """Whether this helpdesk conversation belongs to a session of this plugin alias."""
    upstream_id = downstream.tags.get(sessions.names.upstream)
    return upstream_id is not None and await sessions.get(upstream_id) is not None


async def _relay_to_user(
    sessions: Sessions, session: Session, message: Message, author: User | None
) -> bool:
    """Send the agent's message on the user's channel; False when that channel refuses it.

    The runtime checks the message against the user's channel definition before anything is
    stored; a type that channel cannot show is explained to the agent instead.
    """
    payload = {k: v for k, v in message.payload.items() if k != "userId"}
    tags = {sessions.names.downstream: message.id}
    additional = payload.pop("additionalData", None)
    if isinstance(additional, str):
        tags[sessions.names.additional_data] = additional
    configuration = session.configuration
    shown_as = author.id if author is not None and configuration.use_human_agent_info else None
    human = {
        "id": author.id if author is not None else None,
        "name": author.name if author is not None else None,
        "shownToModel": configuration.model_sees_human_agent_turns,
    }
    try:
        await sessions.ctx.send_message(
            conversation_id=session.upstream_id,
            type=message.type,
            payload=payload,
            user_id=shown_as,
            tags=tags,
            metadata={HUMAN_AGENT_METADATA: human},
        )
    except MessageError as error:
        logger.warning("agent message %s not relayed to the user: %s", message.id, error)
        assert session.downstream_id is not None
        await sessions.say(session.downstream_id, session, "on_incompatible_msg_type_message")
        return False
    return True


async def before_incoming_event(ctx: Context[HitlConfiguration], event: Event) -> Any:
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
    if event.type == f"{ctx.alias}.{IDLE_EVENT}":
        await fire(sessions, event)
        return STOP
    if event.type in (f"{bound}.hitl_assigned", f"{bound}.hitl_stopped"):
        downstream_id = str(event.payload.get("conversationId", event.conversation_id or ""))
        downstream = await ctx.get_conversation(downstream_id)
        session = await sessions.for_downstream(downstream) if downstream else None
        if session is not None:
            if event.type.endswith(".hitl_assigned"):
                await assign(sessions, session, str(event.payload["userId"]), explicit=True)
            else:
                await agent_closed(sessions, session)
        return STOP
    if event.source == ctx.alias and event.type.removeprefix(f"{ctx.alias}.") in LIFECYCLE_EVENTS:
        return None
    if event.conversation_id and await sessions.active(event.conversation_id):
        return STOP
    return None
