"""Telling the user's channel how a handoff stands, so a chat page can show it.

At each step of a session's lifecycle the plugin sends a custom event into the user's
(upstream) conversation, when that conversation's channel takes events (the ``chat`` and
``webchat`` channels do)::

    {"type": "patchwire.handoff", "state": "waiting" | "assigned" | "ended", "agentName": ...}

``agentName`` is the assigned human agent's name (null while waiting). The announcement is
best effort: a channel that fails to show it must not stop the handoff itself.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from patchwire import Context
from patchwire_hitl._config import HitlConfiguration
from patchwire_hitl._session import Session

__all__ = ["HANDOFF_EVENT", "announce"]

HANDOFF_EVENT = "patchwire.handoff"

_STATES = {"hitl_started": "waiting", "hitl_assigned": "assigned", "hitl_stopped": "ended"}

logger = logging.getLogger("patchwire_hitl")


async def announce(
    ctx: Context[HitlConfiguration], step: str, session: Session, details: Mapping[str, Any]
) -> None:
    """Send the ``patchwire.handoff`` event of lifecycle ``step``, if it has one."""
    state = _STATES.get(step)
    if state is None:
        return
    try:
        if not await ctx.takes_events(session.upstream_id):
            return
        await ctx.send_event(
            conversation_id=session.upstream_id,
            payload={
                "type": HANDOFF_EVENT,
                "state": state,
                "agentName": details.get("agentName") or session.assigned_agent_name,
            },
        )
    except Exception as error:
        logger.warning(
            "could not announce handoff %s of session %s in conversation %s: %s",
            state,
            session.id,
            session.upstream_id,
            error,
        )
