"""The three ``hitl`` actions: end users, the handoff ticket, and closing it."""

from __future__ import annotations

import contextlib
import hashlib
import json
from typing import Any
from urllib.parse import quote

from pydantic import BaseModel, ValidationError

from patchwire import Context, format_validation_error
from patchwire.interfaces.hitl import CreateUserInput, StartHitlInput, StopHitlInput
from patchwire_zendesk._definition import HitlTicket, ZendeskConfiguration, is_email
from patchwire_zendesk._desk import (
    BOT_USER_TAG,
    TICKET_TAG,
    USER_TAG,
    Desk,
    desk,
)
from patchwire_zendesk._errors import TicketGoneError
from patchwire_zendesk._transcript import SEPARATOR, transcript

__all__ = [
    "DEFAULT_BOT_NAME",
    "REQUESTER_TAG",
    "create_user",
    "hitl_ticket",
    "start_hitl",
    "stop_hitl",
]

REQUESTER_TAG = "zendeskRequesterId"
"""Conversation tag: the ticket's requester, who authors the user's relayed messages."""
DEFAULT_BOT_NAME = "Bot"
MAX_PHOTO_URL = 255
"""Zendesk refuses a longer ``remote_photo_url`` (once URL-encoded)."""


def _digest(*parts: str) -> str:
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()


def _photo(url: str | None) -> str | None:
    if url and len(quote(url, safe=":/?&=#%")) <= MAX_PHOTO_URL:
        return url
    return None


async def create_user(ctx: Context[ZendeskConfiguration], data: CreateUserInput) -> dict[str, str]:
    """Create or update the Zendesk end user (by ``external_id``) and its patchwire twin."""
    email = data.email if data.email and is_email(data.email) else None
    fields: dict[str, Any] = {"name": data.name, "role": "end-user", "skip_verify_email": True}
    photo = _photo(data.picture_url)
    if photo:
        fields["remote_photo_url"] = photo
    if email:
        # One address, one external_id: a retry updates the user rather than duplicating it.
        fields["email"] = email
        fields["external_id"] = f"patchwire-{_digest(email.lower())[:32]}"
        remote = await desk(ctx).client.create_or_update_user(fields)
        user = await ctx.get_or_create_user(
            tags={USER_TAG: str(remote["id"])}, name=data.name, picture_url=data.picture_url
        )
        return {"user_id": user.id}
    local = await ctx.create_user(name=data.name, picture_url=data.picture_url)
    fields["external_id"] = f"patchwire-{ctx.alias}-{local.id}"
    remote = await desk(ctx).client.create_or_update_user(fields)
    await ctx.update_user(local.id, tags={USER_TAG: str(remote["id"])})
    return {"user_id": local.id}


def hitl_ticket(value: Any) -> HitlTicket:
    """The ``hitl_session`` input as a validated :class:`HitlTicket` (a clear error if not)."""
    if isinstance(value, HitlTicket):
        return value
    if isinstance(value, BaseModel):
        value = value.model_dump(by_alias=True, exclude_none=True)
    try:
        return HitlTicket.model_validate(value or {})
    except ValidationError as error:
        raise ValueError(f"invalid hitlTicket: {format_validation_error(error)}") from None


async def _author_names(ctx: Context[ZendeskConfiguration], data: StartHitlInput) -> dict[str, str]:
    names: dict[str, str] = {}
    for entry in data.message_history:
        user_id = getattr(entry.source, "user_id", None)
        if user_id and user_id not in names:
            user = await ctx.get_user(user_id)
            names[user_id] = (user.name if user else None) or "User"
    return names


async def _first_comment(
    ctx: Context[ZendeskConfiguration], data: StartHitlInput, bot_name: str
) -> str:
    names = await _author_names(ctx, data)
    entries = [
        (names.get(getattr(entry.source, "user_id", "") or "", ""), entry.type, entry.payload)
        for entry in data.message_history
    ]
    body = (data.description or "").strip() or (
        f"Someone opened a ticket using your {bot_name} chatbot."
    )
    history = transcript(entries, bot_name=bot_name)
    return f"{body}{SEPARATOR}{history}" if history else body


async def _bot_user(target: Desk, name: str, photo: str | None) -> str:
    """The Zendesk end user that authors the bot's comments, made once per name and photo."""
    key = _digest(target.ctx.alias, name, photo or "")[:24]
    cached = await target.ctx.get_state("agent", "zendesk", f"bot:{key}")
    if isinstance(cached, str):
        return cached
    fields: dict[str, Any] = {
        "name": name,
        "role": "end-user",
        "external_id": f"patchwire-bot-{key}",
        "skip_verify_email": True,
    }
    if _photo(photo):
        fields["remote_photo_url"] = photo
    remote = await target.client.create_or_update_user(fields)
    await target.ctx.set_state("agent", "zendesk", f"bot:{key}", str(remote["id"]))
    return str(remote["id"])


def _external_id(ctx: Context[ZendeskConfiguration], data: StartHitlInput) -> str:
    """Stable for one start: a retried action finds the ticket its first try made."""
    canonical = json.dumps(data.model_dump(mode="json"), sort_keys=True, default=str)
    return f"patchwire-{_digest(ctx.alias, canonical)[:40]}"


async def start_hitl(ctx: Context[ZendeskConfiguration], data: StartHitlInput) -> dict[str, str]:
    """Open one ticket carrying the transcript; never two for one retried start."""
    target = desk(ctx)
    configuration = target.configuration
    options = hitl_ticket(data.hitl_session)
    user = await ctx.get_user(data.user_id)
    if user is None or USER_TAG not in user.tags:
        raise ValueError(
            f"user {data.user_id!r} was not created by create_user of this integration"
        )
    bot_name = options.chatbot_name or DEFAULT_BOT_NAME
    external_id = _external_id(ctx, data)
    ticket = await target.client.open_ticket(external_id)
    if ticket is None:
        fields: dict[str, Any] = {
            "subject": (data.title or "").strip() or "Untitled Ticket",
            "comment": {
                "body": await _first_comment(ctx, data, bot_name),
                "public": configuration.transcript_public,
            },
            "external_id": external_id,
            "tags": [configuration.ticket_tag, *(options.tags or [])],
        }
        if options.requester_name:
            requester = {"name": options.requester_name}
            if options.requester_email:
                requester["email"] = options.requester_email
            fields["requester"] = requester
        else:
            fields["requester_id"] = int(user.tags[USER_TAG])
        if options.priority:
            fields["priority"] = options.priority
        if options.group_id:
            fields["group_id"] = int(options.group_id)
        if options.ticket_form_id:
            fields["ticket_form_id"] = int(options.ticket_form_id)
        ticket = await target.client.create_ticket(fields)
    tags = {
        TICKET_TAG: str(ticket["id"]),
        REQUESTER_TAG: str(ticket.get("requester_id") or user.tags[USER_TAG]),
    }
    if options.chatbot_name or options.chatbot_photo_url:
        tags[BOT_USER_TAG] = await _bot_user(target, bot_name, options.chatbot_photo_url)
    conversation = await ctx.get_or_create_conversation(
        channel="hitl", tags={TICKET_TAG: tags[TICKET_TAG]}
    )
    await ctx.update_conversation(conversation.id, tags=tags)
    return {"conversation_id": conversation.id}


async def stop_hitl(ctx: Context[ZendeskConfiguration], data: StopHitlInput) -> dict[str, str]:
    """Set the configured status (closed by default) after whatever is still queued."""
    conversation = await ctx.get_conversation(data.conversation_id)
    if conversation is None or TICKET_TAG not in conversation.tags:
        raise ValueError(
            f"conversation {data.conversation_id!r} is not a ticket of this integration"
        )
    target = desk(ctx)
    # Deleted or already closed in Zendesk: nothing is left to close.
    with contextlib.suppress(TicketGoneError):
        await target.outboxes(conversation.tags[TICKET_TAG]).submit(
            status=target.configuration.close_status
        )
    return {}
