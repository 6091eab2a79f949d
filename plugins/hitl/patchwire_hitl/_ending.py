"""The ways a session ends, with who is told what (the reference's table, and our fixes).

Whenever the plugin ends a session itself it marks it inactive before asking the helpdesk to
stop, so the ``hitl_stopped`` the helpdesk sends back finds nothing active and does nothing.
Marking it ended is a compare-and-set: of two handlers ending one session (a timeout firing
as the agent closes), only the one that ended it tells anybody anything.
"""

from __future__ import annotations

import logging
from typing import Any

from patchwire_hitl._definition import StopHitlInput, StopHitlOutput
from patchwire_hitl._session import EndReason, Session
from patchwire_hitl._sessions import Sessions
from patchwire_hitl._texts import ABORT_TEXT

__all__ = [
    "abort",
    "agent_closed",
    "agent_idle_ended",
    "assignment_timed_out",
    "stop_action",
    "stopped_payload",
    "user_closed",
]

logger = logging.getLogger("patchwire_hitl")


async def _finish(
    sessions: Sessions,
    session: Session,
    reason: EndReason,
    *,
    tell_agent: bool,
    stop_external: bool,
    tell_user: str | None,
    continue_workflow: bool,
) -> None:
    assert session.downstream_id is not None
    ended = await sessions.mark_ended(session, reason)
    if ended is None:
        return
    if tell_agent:
        await sessions.say(session.downstream_id, ended, "on_user_hitl_cancelled_message")
    if stop_external:
        await sessions.actions.stop_hitl(conversation_id=session.downstream_id)
    if tell_user is not None:
        await sessions.say(session.upstream_id, ended, tell_user)
    await sessions.lifecycle("hitl_stopped", ended, **stopped_payload(ended))
    if continue_workflow and ended.configuration.flow_on_hitl_stopped:
        await sessions.lifecycle("continue_workflow", ended)


def stopped_payload(ended: Session) -> dict[str, Any]:
    """What agent code needs to resume: why, who the agent was, which messages it covered.

    The session's part of the user's conversation is the messages after
    ``transcript.fromMessageId`` (the message that triggered the start; None: from the
    beginning) up to and including ``transcript.toMessageId``.
    """
    return {
        "reason": ended.end_reason,
        "agentId": ended.assigned_agent_id,
        "agentName": ended.assigned_agent_name,
        "startedAt": ended.started_at.isoformat(),
        "endedAt": ended.ended_at.isoformat() if ended.ended_at else None,
        "transcript": {
            "fromMessageId": ended.start_message_id,
            "toMessageId": ended.last_message_id,
        },
    }


async def user_closed(sessions: Sessions, session: Session) -> None:
    await _finish(
        sessions,
        session,
        "patient-used-termination-command",
        tell_agent=True,
        stop_external=True,
        tell_user="on_user_hitl_close_message",
        continue_workflow=True,
    )


async def agent_closed(sessions: Sessions, session: Session) -> None:
    await _finish(
        sessions,
        session,
        "agent-closed-ticket",
        tell_agent=False,
        stop_external=False,
        tell_user="on_hitl_stopped_message",
        continue_workflow=True,
    )


async def assignment_timed_out(sessions: Sessions, session: Session) -> None:
    await _finish(
        sessions,
        session,
        "agent-assignment-timeout",
        tell_agent=True,
        stop_external=True,
        tell_user="on_agent_assigned_timeout_message",
        continue_workflow=True,
    )


async def agent_idle_ended(sessions: Sessions, session: Session) -> None:
    """No human answered in time and the session is set to end then (``agent-response-timeout``)."""
    await _finish(
        sessions,
        session,
        "agent-response-timeout",
        tell_agent=True,
        stop_external=True,
        tell_user="on_agent_idle_message",
        continue_workflow=True,
    )


async def abort(sessions: Sessions, session: Session, why: str) -> None:
    """A link is missing: close both sides and tell both (the reference left the ticket open)."""
    logger.error("HITL session %s aborted: %s", session.id, why)
    ended = await sessions.mark_ended(session, "internal-error")
    if ended is None:
        return
    for conversation_id in (session.upstream_id, session.downstream_id):
        if conversation_id is not None:
            await sessions.send_text(conversation_id, ABORT_TEXT)
    if session.downstream_id is not None:
        await sessions.actions.stop_hitl(conversation_id=session.downstream_id)
    await sessions.lifecycle("hitl_stopped", ended, **stopped_payload(ended))


async def stop_action(sessions: Sessions, data: StopHitlInput) -> StopHitlOutput:
    """The ``stop_hitl`` action: the agent's code ends the session (no user message)."""
    session = await sessions.active(data.conversation_id)
    if session is not None:
        await _finish(
            sessions,
            session,
            "close-action-called",
            tell_agent=True,
            stop_external=True,
            tell_user=None,
            continue_workflow=False,
        )
    return StopHitlOutput()
