"""Telling whoever wrote a relayed message that it never arrived.

The runtime retries a message whose outside system is down for hours (``[runtime]
delivery_retry_hours``) and then gives up, passing it to ``after_outgoing_message`` with status
``failed``. For a message this plugin relayed, the writer is on the other side: a user's message
that never reached the helpdesk is answered to the user, a human agent's reply that never
reached the user is answered to the agent through the helpdesk
(``onMessageUndeliveredMessage``). Nothing else is said: the runtime's own failure record is
what the operator sees.
"""

from __future__ import annotations

import logging

from patchwire import Context
from patchwire.store import Message
from patchwire_hitl._config import HitlConfiguration
from patchwire_hitl._sessions import Sessions

__all__ = ["after_outgoing_message"]

logger = logging.getLogger("patchwire_hitl")


async def after_outgoing_message(ctx: Context[HitlConfiguration], message: Message) -> None:
    if message.status != "failed":
        return
    sessions = Sessions(ctx)
    names = sessions.names
    if names.upstream in message.tags:  # the user's message, relayed into the helpdesk
        downstream = await ctx.get_conversation(message.conversation_id)
        session = await sessions.for_downstream(downstream) if downstream else None
        writer = session.upstream_id if session is not None else None
    elif names.downstream in message.tags:  # the human agent's reply, relayed to the user
        session = await sessions.active(message.conversation_id)
        writer = session.downstream_id if session is not None else None
    else:
        return
    if writer is None or session is None:
        logger.warning("relayed message %s was not delivered; its session is over", message.id)
        return
    await sessions.say(writer, session, "on_message_undelivered_message")
