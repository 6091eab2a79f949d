"""The ``hitl`` channel: what patchwire sends into the Intercom conversation.

A message from the end user becomes a reply of type ``user`` (as if they typed it in the
Messenger); a message with no user (the plugin's own notices) becomes a note from the bot
admin, which the agent sees and the contact does not.
"""

from __future__ import annotations

import logging
from typing import Any

from patchwire import Context
from patchwire.store import Message
from patchwire_intercom._client import IntercomNotFoundError
from patchwire_intercom._definition import IntercomConfiguration
from patchwire_intercom._links import (
    UNDELIVERED_TAG,
    client_for,
    remote_conversation,
    user_contact,
)
from patchwire_intercom._text import note_html, outbound

__all__ = ["conversation_gone", "send"]

logger = logging.getLogger("patchwire_intercom")


async def send(ctx: Context[IntercomConfiguration], message: Message) -> None:
    remote_id = await remote_conversation(ctx, message.conversation_id)
    payload = dict(message.payload)
    author_id = payload.pop("userId", None)
    payload.pop("additionalData", None)
    part = outbound(message.type, payload)
    contact_id = await user_contact(ctx, str(author_id)) if author_id else None
    client = client_for(ctx)
    body: dict[str, Any]
    if contact_id is not None:
        body = {
            "message_type": "comment",
            "type": "user",
            "intercom_user_id": contact_id,
            "body": part.body,
        }
    else:
        body = {
            "message_type": "note",
            "type": "admin",
            "admin_id": await client.bot_admin_id(),
            "body": note_html(part.body),
        }
    if part.attachment_urls:
        body["attachment_urls"] = part.attachment_urls
    try:
        await client.post(f"/conversations/{remote_id}/reply", body)
    except IntercomNotFoundError:
        if not await _deleted(ctx, remote_id):
            raise  # the contact, not the conversation, is missing: a real failure
        await ctx.update_message(
            message.id, tags={UNDELIVERED_TAG: "the conversation was deleted in Intercom"}
        )
        await conversation_gone(ctx, message.conversation_id, remote_id)


async def _deleted(ctx: Context[IntercomConfiguration], remote_id: str) -> bool:
    try:
        await client_for(ctx).get(f"/conversations/{remote_id}")
    except IntercomNotFoundError:
        return True
    return False


async def conversation_gone(
    ctx: Context[IntercomConfiguration], conversation_id: str, remote_id: str
) -> None:
    """End the session once when Intercom no longer has its conversation."""
    logger.info("Intercom conversation %s is gone; ending its session", remote_id)
    await ctx.emit_event(
        "hitl_stopped",
        {"conversationId": conversation_id},
        conversation_id=conversation_id,
        dedupe_key=f"gone:{remote_id}",
    )
