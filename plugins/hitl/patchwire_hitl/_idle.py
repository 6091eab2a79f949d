"""The agent-idle timeout: the user wrote during an assigned session and nobody answered.

A user message arms one durable timer (``ctx.schedule_event``) unless one is pending or the
user was told already; a human reply disarms it. The session record carries the timer's
token, compared and set on every change, so a timer that fires after a reply, or twice,
does nothing, and the user hears the text once per unanswered stretch.
"""

from __future__ import annotations

import uuid

from patchwire.store import Event
from patchwire_hitl._ending import agent_idle_ended
from patchwire_hitl._session import Session
from patchwire_hitl._sessions import Sessions

__all__ = ["IDLE_EVENT", "arm", "disarm", "fire"]

IDLE_EVENT = "agent_idle"


async def arm(sessions: Sessions, session: Session) -> None:
    """After a user message is relayed: start waiting for a human reply, if not already."""
    seconds = session.configuration.agent_idle_timeout_seconds
    if not seconds or session.assigned_agent_id is None:
        return
    token = uuid.uuid4().hex

    def wait(current: Session | None) -> Session | None:
        if current is None or current.id != session.id or not current.active:
            return None
        if current.idle_wait_id is not None or current.idle_notified:
            return None
        return current.model_copy(update={"idle_wait_id": token})

    if await sessions.change(session.upstream_id, wait) is None:
        return
    timer = await sessions.ctx.schedule_event(
        IDLE_EVENT,
        {"sessionId": session.id, "waitId": token},
        after=seconds,
        conversation_id=session.upstream_id,
        user_id=session.initiating_user_id,
    )

    def keep(current: Session | None) -> Session | None:
        if current is None or current.idle_wait_id != token:
            return None
        return current.model_copy(update={"idle_event_id": timer.id})

    if await sessions.change(session.upstream_id, keep) is None:
        await sessions.ctx.cancel_event(timer.id)  # a reply or the end came first


async def disarm(sessions: Sessions, session: Session) -> None:
    """A human replied: no idle text for what the user wrote before."""
    timers: list[str] = []

    def replied(current: Session | None) -> Session | None:
        if current is None or current.id != session.id:
            return None
        if current.idle_wait_id is None and not current.idle_notified:
            return None
        timers[:] = [current.idle_event_id] if current.idle_event_id else []
        return current.model_copy(
            update={"idle_wait_id": None, "idle_event_id": None, "idle_notified": False}
        )

    if await sessions.change(session.upstream_id, replied) is not None:
        for timer in timers:
            await sessions.ctx.cancel_event(timer)


async def fire(sessions: Sessions, event: Event) -> None:
    """The timer fired: tell the user once (and end the session when so configured)."""
    token = event.payload.get("waitId")

    def notify(current: Session | None) -> Session | None:
        if current is None or not current.active or current.id != event.payload.get("sessionId"):
            return None
        if token is None or current.idle_wait_id != token:
            return None
        return current.model_copy(
            update={"idle_wait_id": None, "idle_event_id": None, "idle_notified": True}
        )

    session = await sessions.change(event.conversation_id or "", notify)
    if session is None:
        return
    if session.configuration.end_session_on_agent_idle:
        await agent_idle_ended(sessions, session)
    else:
        await sessions.say(session.upstream_id, session, "on_agent_idle_message")
