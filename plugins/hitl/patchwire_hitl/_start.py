"""The ``start_hitl`` action: hand the conversation to the bound helpdesk."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any, Final

from tenacity import AsyncRetrying, retry_if_result, stop_after_delay, wait_fixed

from patchwire import Context
from patchwire.store import Message
from patchwire_hitl._config import HitlConfiguration
from patchwire_hitl._definition import StartHitlInput, StartHitlOutput
from patchwire_hitl._errors import HitlStartError
from patchwire_hitl._linking import downstream_user
from patchwire_hitl._session import Session, effective_configuration
from patchwire_hitl._sessions import Sessions

__all__ = ["start_hitl"]

START_WAIT_SECONDS: Final = 10.0
"""How long a start another one got ahead of waits for it to finish, to answer the same."""
STALE_START: Final = timedelta(minutes=5)
"""A start still unfinished after this long is taken as crashed; a new one may go ahead."""


async def start_hitl(ctx: Context[HitlConfiguration], data: StartHitlInput) -> StartHitlOutput:
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
    configuration = effective_configuration(sessions.configuration, data.configuration_overrides)
    candidate = Session(
        id=uuid.uuid4().hex,
        active=False,
        upstream_id=upstream.id,
        initiating_user_id=data.user_id,
        configuration=configuration,
        start_message_id=await _last_user_message(ctx, upstream.id),
        start_key=ctx.idempotency_key("start"),
    )
    session = await sessions.change(upstream.id, lambda current: _claim(current, candidate))
    if session is None:
        return await _started_elsewhere(sessions, candidate)
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
    timer = None
    if configuration.agent_assigned_timeout_seconds:
        timer = await ctx.schedule_event(
            "assignment_timeout",
            {"sessionId": session.id},
            after=configuration.agent_assigned_timeout_seconds,
            conversation_id=upstream.id,
            user_id=data.user_id,
        )
    active = await sessions.update(
        session,
        active=True,
        downstream_id=downstream_id,
        timeout_event_id=timer.id if timer else None,
    )
    if active is None:  # taken as crashed and replaced by a later start: undo this one
        if timer is not None:
            await ctx.cancel_event(timer.id)
        await sessions.actions.stop_hitl(conversation_id=downstream_id)
        raise HitlStartError(
            "activating the session",
            f"it took longer than {STALE_START} and a later start of {upstream.id!r} replaced it",
        )
    await sessions.lifecycle("hitl_started", active)
    return StartHitlOutput(session_id=active.id, downstream_conversation_id=downstream_id)


def _claim(current: Session | None, candidate: Session) -> Session | None:
    """``candidate`` if this start may go ahead; None when one is running or was tried.

    One start per triggering message: a running or starting session is not replaced, and a
    start that failed is not tried again for the same user message (a retried handler must
    not hand off twice). A session that *ended* does not block a new start, even without a
    new user message (the reference's P2). The same call running again (its job replayed
    after a crash, same idempotency key) resumes the start it left unfinished: its effects
    are the runtime's steps, so what it did already is not done twice.
    """
    if current is None:
        return candidate
    if current.status == "starting" and current.start_key == candidate.start_key:
        return current
    if current.active or (
        current.status == "starting" and candidate.started_at - current.started_at < STALE_START
    ):
        return None
    if (
        candidate.start_message_id is not None
        and current.start_message_id == candidate.start_message_id
        and current.end_reason == "start-failed"
    ):
        return None
    return candidate


async def _started_elsewhere(sessions: Sessions, candidate: Session) -> StartHitlOutput:
    """The answer of a start that another one (a replay, another process) got ahead of."""
    current = await _wait_while_starting(sessions, candidate.upstream_id)
    if current is not None and current.active:
        assert current.downstream_id is not None
        return StartHitlOutput(
            session_id=current.id, downstream_conversation_id=current.downstream_id
        )
    if current is not None and current.status == "starting":
        raise HitlStartError(
            "waiting for another start",
            f"a start of {candidate.upstream_id!r} begun at {current.started_at.isoformat()} "
            f"has not finished after {START_WAIT_SECONDS} s",
        )
    raise HitlStartError(
        "checking the conversation",
        f"the start triggered by message {candidate.start_message_id!r} failed already; "
        "a new message from the user can start again",
    )


def _starting(found: Session | None) -> bool:
    return found is not None and found.status == "starting"


async def _wait_while_starting(sessions: Sessions, upstream_id: str) -> Session | None:
    """The record once no start is under way, or as it is after ``START_WAIT_SECONDS``."""
    poll = AsyncRetrying(
        stop=stop_after_delay(START_WAIT_SECONDS),
        wait=wait_fixed(0.05),
        retry=retry_if_result(_starting),
        retry_error_callback=lambda state: state.outcome.result() if state.outcome else None,
    )
    found: Session | None = await poll(sessions.get, upstream_id)
    return found


async def _last_user_message(ctx: Context[HitlConfiguration], conversation_id: str) -> str | None:
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
