"""``get_session`` and ``list_sessions``: what agent code and operators may ask about sessions.

``list_sessions`` finds candidates through the index tags on the user's conversations (one
tag query, never a scan of every conversation), then re-reads each record, which is the
truth: a tag written a moment late can hide a session from one call, never show a wrong one.
"""

from __future__ import annotations

from patchwire import Context
from patchwire_hitl._config import HitlConfiguration
from patchwire_hitl._definition import (
    GetSessionInput,
    GetSessionOutput,
    HumanAgent,
    ListSessionsInput,
    ListSessionsOutput,
    SessionInfo,
)
from patchwire_hitl._session import Session
from patchwire_hitl._sessions import Sessions

__all__ = ["get_session", "list_sessions"]

_STATUSES = ("starting", "active", "ended")


def info(session: Session) -> SessionInfo:
    agent = (
        HumanAgent(id=session.assigned_agent_id, name=session.assigned_agent_name or "")
        if session.assigned_agent_id is not None
        else None
    )
    return SessionInfo(
        session_id=session.id,
        conversation_id=session.upstream_id,
        downstream_conversation_id=session.downstream_id,
        status=session.status,
        active=session.active,
        agent=agent,
        started_at=session.started_at,
        assigned_at=session.assigned_at,
        ended_at=session.ended_at,
        end_reason=session.end_reason,
        start_message_id=session.start_message_id,
        last_message_id=session.last_message_id,
    )


async def get_session(ctx: Context[HitlConfiguration], data: GetSessionInput) -> GetSessionOutput:
    session = await Sessions(ctx).get(data.conversation_id)
    return GetSessionOutput(session=info(session) if session is not None else None)


def _matches(session: Session, data: ListSessionsInput) -> bool:
    return (
        (data.status is None or session.status == data.status)
        and (data.agent_id is None or session.assigned_agent_id == data.agent_id)
        and (data.end_reason is None or session.end_reason == data.end_reason)
    )


async def list_sessions(
    ctx: Context[HitlConfiguration], data: ListSessionsInput
) -> ListSessionsOutput:
    sessions = Sessions(ctx)
    names = sessions.names
    filters = {
        names.agent: data.agent_id,
        names.end_reason: data.end_reason,
    }
    given = {key: value for key, value in filters.items() if value is not None}
    statuses = [data.status] if data.status is not None else list(_STATUSES)
    candidates: dict[str, None] = {}
    for status in statuses:
        for conversation in await ctx.find_conversations({names.status: status, **given}):
            candidates[conversation.id] = None
    found = [
        session
        for session in [await sessions.get(conversation_id) for conversation_id in candidates]
        if session is not None and _matches(session, data)
    ]
    found.sort(key=lambda session: session.started_at, reverse=True)
    return ListSessionsOutput(sessions=[info(session) for session in found[: data.limit]])
