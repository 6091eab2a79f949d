"""The ``start_hitl`` action: hand the conversation to the bound helpdesk."""

from __future__ import annotations

import uuid
from typing import Any

from patchwire import Context
from patchwire.store import Message
from patchwire_hitl._definition import StartHitlInput, StartHitlOutput
from patchwire_hitl._errors import HitlStartError
from patchwire_hitl._linking import downstream_user
from patchwire_hitl._session import Session, effective_configuration
from patchwire_hitl._sessions import Sessions

__all__ = ["start_hitl"]


async def start_hitl(ctx: Context, data: StartHitlInput) -> StartHitlOutput:
    sessions = Sessions(ctx)
    upstream = await ctx.get_conversation(data.conversation_id)
    if upstream is None:
        raise HitlStartError(
            "reading the conversation", f"no conversation {data.conversation_id!r}"
        )
    if (
        upstream.integration == ctx.bound_integration("hitl")
        or sessions.names.upstream in upstream.tags
    ):
        raise HitlStartError(
            "checking the conversation",
            f"{upstream.id!r} is a helpdesk conversation; start HITL from the user's conversation",
        )
    running = await sessions.active(upstream.id)
    if running is not None:
        assert running.downstream_id is not None
        return StartHitlOutput(
            session_id=running.id, downstream_conversation_id=running.downstream_id
        )
    configuration = effective_configuration(sessions.configuration, data.configuration_overrides)
    session = Session(
        id=uuid.uuid4().hex,
        active=False,
        upstream_id=upstream.id,
        initiating_user_id=data.user_id,
        configuration=configuration,
        start_message_id=await _last_user_message(ctx, upstream.id),
    )
    await sessions.save(session)
    await sessions.say(upstream.id, session, "on_hitl_handoff_message")
    step = "linking the user"
    try:
        user = await ctx.get_user(data.user_id)
        if user is None:
            raise LookupError(f"no user {data.user_id!r}")
        user_id = await downstream_user(sessions, user, email=data.user_email)
        step = "reading the history"
        history = await _history(sessions, upstream.id, configuration.history_limit)
        step = "opening the helpdesk session"
        started = await sessions.actions.start_hitl(
            user_id=user_id,
            title=data.title,
            description=data.description,
            hitl_session=data.hitl_session,
            message_history=history,
        )
    except Exception as error:
        await sessions.mark_ended(session, "start-failed")
        await sessions.say(upstream.id, session, "on_hitl_start_failed_message")
        raise HitlStartError(step, f"{type(error).__name__}: {error}") from error
    downstream_id = str(started.conversation_id)
    await ctx.update_conversation(upstream.id, tags={sessions.names.downstream: downstream_id})
    await ctx.update_conversation(downstream_id, tags={sessions.names.upstream: upstream.id})
    session = session.model_copy(update={"active": True, "downstream_id": downstream_id})
    seconds = configuration.agent_assigned_timeout_seconds
    if seconds:
        scheduled = await ctx.schedule_event(
            "assignment_timeout",
            {"sessionId": session.id},
            after=seconds,
            conversation_id=upstream.id,
            user_id=data.user_id,
        )
        session = session.model_copy(update={"timeout_event_id": scheduled.id})
    await sessions.save(session)
    await sessions.lifecycle("hitl_started", session)
    return StartHitlOutput(session_id=session.id, downstream_conversation_id=downstream_id)


async def _last_user_message(ctx: Context, conversation_id: str) -> str | None:
    page = await ctx.list_messages(conversation_id, limit=50)
    return next((m.id for m in page.messages if m.direction == "incoming"), None)


async def _history(sessions: Sessions, conversation_id: str, limit: int) -> list[dict[str, Any]]:
    """The conversation's last ``limit`` messages, oldest first, authors linked."""
    messages: list[Message] = []
    cursor: str | None = None
    while len(messages) < limit:
        page = await sessions.ctx.list_messages(
            conversation_id, limit=min(100, limit - len(messages)), cursor=cursor
        )
        messages += page.messages
        cursor = page.next_cursor
        if cursor is None:
            break
    linked: dict[str, str] = {}
    history = []
    for message in reversed(messages):
        source: dict[str, Any] = {"type": "bot"}
        if message.direction == "incoming" and message.user_id:
            if message.user_id not in linked:
                author = await sessions.ctx.get_user(message.user_id)
                if author is not None:
                    linked[message.user_id] = await downstream_user(sessions, author)
            if message.user_id in linked:
                source = {"type": "user", "userId": linked[message.user_id]}
        history.append({"source": source, "type": message.type, "payload": dict(message.payload)})
    return history
