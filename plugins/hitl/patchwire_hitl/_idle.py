"""The agent-idle timeout: the user wrote during an assigned session and nobody answered.

A user message arms one durable timer (``ctx.schedule_event``) unless one is pending or the
user was told already; a human reply disarms it. The session record carries the timer's
token, compared and set on every change, so a timer that fires after a reply, or twice,
does nothing, and the user hears the text once per unanswered stretch. A reply the helpdesk
delivered in time but that is still queued when the timer fires counts as a reply too.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from patchwire.store import Event
from patchwire_hitl._ending import agent_idle_ended
from patchwire_hitl._metrics import first_reply
from patchwire_hitl._roles import is_human_agent
from patchwire_hitl._session import Session
from patchwire_hitl._sessions import Sessions

__all__ = ["IDLE_EVENT", "arm", "disarm", "fire"]

IDLE_EVENT = "agent_idle"


async def arm(sessions: Sessions, session: Session, since: datetime) -> None:
    """After a user message (received at ``since``) is relayed: wait for a human reply."""
    seconds = session.configuration.agent_idle_timeout_seconds
    if not seconds or session.assigned_agent_id is None:
        return
    token = uuid.uuid4().hex

    def wait(current: Session | None) -> Session | None:
        if current is None or current.id != session.id or not current.active:
            return None
        if current.idle_wait_id is not None or current.idle_notified:
            return None
        return current.model_copy(update={"idle_wait_id": token, "idle_since": since})

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
    """A human replied: no idle text for what the user wrote before (and, the first time,
    the session notes its first reply).

    Skipped when the session this job read has nothing to disarm: a user message arming the
    idle wait after that read came after this reply, so its wait stands, as it would have had
    the reply been handled first.
    """
    if session.idle_wait_id is None and not session.idle_notified and session.first_reply_at:
        return  # nothing to disarm, as of the session this job read (see below for races)
    timers: list[str] = []
    moment = datetime.now(UTC)
    first: list[bool] = [False]

    def replied(current: Session | None) -> Session | None:
        if current is None or current.id != session.id:
            return None
        first[0] = current.first_reply_at is None
        if current.idle_wait_id is None and not current.idle_notified and not first[0]:
            return None
        timers[:] = [current.idle_event_id] if current.idle_event_id else []
        return current.model_copy(
            update={
                "idle_wait_id": None,
                "idle_event_id": None,
                "idle_since": None,
                "idle_notified": False,
                "first_reply_at": current.first_reply_at or moment,
            }
        )

    changed = await sessions.change(session.upstream_id, replied)
    if changed is not None:
        if first[0]:
            first_reply(sessions.ctx, changed)
        for timer in timers:
            await sessions.ctx.cancel_event(timer)


async def fire(sessions: Sessions, event: Event) -> None:
    """The timer fired: tell the user once (and end the session when so configured)."""
    token = event.payload.get("waitId")
    waiting = await sessions.get(event.conversation_id or "")
    if waiting is None or waiting.idle_wait_id != token or await _answered(sessions, waiting):
        return

    def notify(current: Session | None) -> Session | None:
        if current is None or not current.active or current.id != event.payload.get("sessionId"):
            return None
        if token is None or current.idle_wait_id != token:
            return None
        return current.model_copy(
            update={
                "idle_wait_id": None,
                "idle_event_id": None,
                "idle_since": None,
                "idle_notified": True,
            }
        )

    session = await sessions.change(event.conversation_id or "", notify)
    if session is None:
        return
    if session.configuration.end_session_on_agent_idle:
        await agent_idle_ended(sessions, session)
    else:
        await sessions.say(session.upstream_id, session, "on_agent_idle_message")


async def _answered(sessions: Sessions, session: Session) -> bool:
    """Whether a human agent's message reached the helpdesk conversation since the wait began."""
    if session.downstream_id is None or session.idle_since is None:
        return False
    page = await sessions.ctx.list_messages(session.downstream_id, limit=20)
    for message in page.messages:
        if message.created_at < session.idle_since:
            return False
        author = await sessions.ctx.get_user(message.user_id) if message.user_id else None
        if message.direction == "incoming" and is_human_agent(author):
            return True
    return False
