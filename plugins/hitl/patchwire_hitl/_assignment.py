"""Who the human agent is: the first assignment, and transfers to another agent.

An assignment is compared and set on the session record, so the user hears "joined" once
per session however many webhooks (Zendesk's ``newMessage`` beside ``ticketAssigned``) or
processes report the same agent, and agents taking turns in one ticket are not news.
"""

from __future__ import annotations

from datetime import UTC, datetime

from patchwire_hitl import _metrics as metrics
from patchwire_hitl._session import Session
from patchwire_hitl._sessions import Sessions
from patchwire_hitl._texts import FALLBACK_AGENT_NAME

__all__ = ["assign"]


async def assign(sessions: Sessions, session: Session, agent_id: str, *, explicit: bool) -> Session:
    """Record ``agent_id`` as the session's agent; the session as it is afterwards.

    The first agent (by the integration's ``hitl_assigned`` or, implicitly, by their first
    message) joins: ``onHumanAgentAssignedMessage`` and ``hitl_assigned``. Later, only an
    explicit assignment to a different agent changes it, as a transfer:
    ``onHumanAgentTransferredMessage`` and ``hitl_transferred``.
    """
    if session.assigned_agent_id == agent_id or (
        session.assigned_agent_id is not None and not explicit
    ):
        return session  # nothing would change: no transaction for every message of an agent
    agent = await sessions.ctx.get_user(agent_id)
    name = (agent.name if agent is not None else None) or FALLBACK_AGENT_NAME
    moment = datetime.now(UTC)
    before: list[Session] = []

    def step(current: Session | None) -> Session | None:
        if current is None or current.id != session.id or not current.active:
            return None
        if current.assigned_agent_id == agent_id:
            return None
        if current.assigned_agent_id is not None and not explicit:
            return None
        before[:] = [current]
        return current.model_copy(
            update={
                "assigned_agent_id": agent_id,
                "assigned_agent_name": name,
                "assigned_at": moment,
                "timeout_event_id": None,
            }
        )

    assigned = await sessions.change(session.upstream_id, step)
    if assigned is None:
        return await sessions.get(session.upstream_id) or session
    [previous] = before
    if previous.timeout_event_id is not None:
        await sessions.ctx.cancel_event(previous.timeout_event_id)
    if previous.assigned_agent_id is None:
        metrics.assigned(sessions.ctx, assigned)
        await sessions.say(
            assigned.upstream_id, assigned, "on_human_agent_assigned_message", agent_name=name
        )
        await sessions.lifecycle("hitl_assigned", assigned, agentId=agent_id, agentName=name)
    else:
        await sessions.say(
            assigned.upstream_id, assigned, "on_human_agent_transferred_message", agent_name=name
        )
        await sessions.lifecycle(
            "hitl_transferred",
            assigned,
            agentId=agent_id,
            agentName=name,
            previousAgentId=previous.assigned_agent_id,
            previousAgentName=previous.assigned_agent_name,
        )
    return assigned
