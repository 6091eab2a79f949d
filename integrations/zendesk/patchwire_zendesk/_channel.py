"""Channel ``hitl``: each outgoing message becomes one public comment on the ticket.

A user's message is authored by the ticket's requester; the bot's own texts by the bot user
(when ``chatbotName``/``chatbotPhotoUrl`` made one) or the API user. Media are uploaded as
attachments when the file can be fetched, and linked otherwise; a bloc is one comment.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from patchwire import Context
from patchwire.store import Message
from patchwire_zendesk._actions import REQUESTER_TAG
from patchwire_zendesk._definition import ZendeskConfiguration
from patchwire_zendesk._desk import BOT_USER_TAG, TICKET_TAG, Desk, desk
from patchwire_zendesk._errors import TicketGoneError, ZendeskError
from patchwire_zendesk._outbox import Comment
from patchwire_zendesk._transcript import render

__all__ = ["comment_for", "send"]

_MEDIA = {"image": "imageUrl", "audio": "audioUrl", "video": "videoUrl", "file": "fileUrl"}


class _Uploads:
    """Upload tokens of one comment; later files join the first one's upload."""

    def __init__(self, target: Desk) -> None:
        self.target = target
        self.tokens: list[str] = []

    async def add(self, type: str, payload: Mapping[str, Any]) -> str:
        """The comment line for a media item: its name when uploaded, else a link."""
        configuration = self.target.configuration
        url = str(payload[_MEDIA[type]])
        if not configuration.upload_attachments:
            return render(type, payload)
        fetched = await self.target.client.download(url)
        if fetched is None:
            return render(type, payload)
        title = str(payload.get("title") or fetched.name)
        try:
            token = await self.target.client.upload(
                fetched.name,
                fetched.content,
                fetched.content_type,
                token=self.tokens[0] if self.tokens else None,
            )
        except ZendeskError:
            return render(type, payload)
        if token not in self.tokens:
            self.tokens.append(token)
        return f"[{type.capitalize()}: {title}] (attached)"


async def comment_for(
    target: Desk, type: str, payload: Mapping[str, Any], author_id: int | None
) -> Comment:
    """The comment one message becomes."""
    uploads = _Uploads(target)
    if type in _MEDIA:
        body = await uploads.add(type, payload)
    elif type == "bloc":
        lines = []
        for item in payload.get("items") or []:
            item_type, item_payload = str(item.get("type")), item.get("payload") or {}
            if item_type in _MEDIA:
                lines.append(await uploads.add(item_type, item_payload))
            else:
                lines.append(render(item_type, item_payload))
        body = "\n\n".join(line for line in lines if line)
    else:
        body = render(type, payload)
    return Comment(body=body or f"[{type}]", author_id=author_id, uploads=uploads.tokens)


async def send(ctx: Context[ZendeskConfiguration], message: Message) -> None:
    """Queue the message's comment on its ticket; wait for it unless the ticket is throttled."""
    target = desk(ctx)
    conversation = await ctx.get_conversation(message.conversation_id)
    if conversation is None or TICKET_TAG not in conversation.tags:
        raise ValueError(f"conversation {message.conversation_id!r} has no Zendesk ticket")
    payload = {k: v for k, v in message.payload.items() if k not in ("userId", "additionalData")}
    tags = conversation.tags
    if message.payload.get("userId") and REQUESTER_TAG in tags:
        author: int | None = int(tags[REQUESTER_TAG])
    else:
        author = int(tags[BOT_USER_TAG]) if BOT_USER_TAG in tags else None
    comment = await comment_for(target, message.type, payload, author)
    try:
        await target.outboxes(tags[TICKET_TAG]).submit(comment)
    except TicketGoneError:
        return  # the outbox has ended the session (hitl_stopped); nothing more to deliver
