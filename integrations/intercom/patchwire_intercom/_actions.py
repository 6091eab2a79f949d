"""The ``hitl`` actions: a contact for the user, a conversation for the session, and closing it."""

from __future__ import annotations

import contextlib
import logging
from typing import Any

from pydantic import BaseModel

from patchwire import Context
from patchwire.interfaces.hitl import CreateUserInput, StartHitlInput, StopHitlInput
from patchwire.messages import MessageHistoryEntry, as_text
from patchwire_intercom._client import IntercomClient, IntercomNotFoundError
from patchwire_intercom._contacts import resolve_contact
from patchwire_intercom._definition import HitlConversation, IntercomConfiguration
from patchwire_intercom._links import (
    CONTACT_ROLE_TAG,
    CONTACT_TAG,
    CONVERSATION_TAG,
    EMAIL_TAG,
    EXTERNAL_ID_TAG,
    client_for,
    memo_for,
    remote_conversation,
)
from patchwire_intercom._text import note_html

__all__ = ["create_user", "start_hitl", "stop_hitl"]

logger = logging.getLogger("patchwire_intercom")

OPENING_FALLBACK = "The assistant handed this conversation over to a human agent."


async def create_user(ctx: Context[IntercomConfiguration], data: CreateUserInput) -> dict[str, str]:
    """The patchwire user standing for the end user, linked to an Intercom contact.

    With an email the user is one per address (and Intercom's own contact for it is reused);
    without, each call is a new user. Their external id is ``patchwire-<user id>``.
    """
    configuration = ctx.configuration
    email = data.email.strip().lower() if data.email else None
    if email:
        user = await ctx.get_or_create_user(
            tags={EMAIL_TAG: email}, name=data.name, picture_url=data.picture_url
        )
    else:
        user = await ctx.create_user(name=data.name, picture_url=data.picture_url)
    if CONTACT_TAG in user.tags:
        return {"user_id": user.id}
    external_id = user.tags.get(EXTERNAL_ID_TAG) or f"patchwire-{user.id}"
    contact = await resolve_contact(
        client_for(ctx),
        external_id=external_id,
        role=configuration.contact_role,
        name=data.name,
        email=email,
        avatar=data.picture_url,
    )
    await ctx.update_user(
        user.id,
        tags={
            CONTACT_TAG: contact.id,
            CONTACT_ROLE_TAG: contact.role,
            EXTERNAL_ID_TAG: contact.external_id or external_id,
        },
    )
    return {"user_id": user.id}


def _session(value: Any) -> HitlConversation:
    if isinstance(value, BaseModel):
        value = value.model_dump(by_alias=True)
    return HitlConversation.model_validate(value or {})


def _opening(title: str | None, description: str | None) -> str:
    """The contact's first message: what the handoff is about (Intercom takes no HTML here)."""
    return "\n".join(part for part in (title, description) if part) or OPENING_FALLBACK


async def _transcript(
    ctx: Context[IntercomConfiguration],
    history: list[MessageHistoryEntry],
    session: HitlConversation,
) -> str | None:
    """The note the agent reads first; None when there is nothing to say."""
    names: dict[str, str] = {}
    lines: list[str] = []
    for entry in history:
        if entry.source.type == "bot":
            who = "Bot"
        else:
            user_id = entry.source.user_id
            if user_id not in names:
                user = await ctx.get_user(user_id)
                names[user_id] = (user.name if user else None) or "User"
            who = names[user_id]
        lines.append(f"{who}: {as_text(entry.type, entry.payload)}")
    priority = session.priority if session.priority != "none" else None
    header = [f"Priority: {priority}"] if priority else []
    if not lines and not header:
        return None
    if lines:
        header.append(f"Conversation with the assistant ({len(lines)} messages, oldest first):")
    return note_html("\n".join(header + lines))


async def _shape(
    client: IntercomClient,
    remote_id: str,
    data: StartHitlInput,
    session: HitlConversation,
    transcript: str | None,
) -> None:
    """Everything after creation: title, transcript note, assignment, tags."""
    admin_id = await client.bot_admin_id()
    if data.title:
        await client.put(f"/conversations/{remote_id}", {"title": data.title})
    if transcript is not None:
        await client.post(
            f"/conversations/{remote_id}/reply",
            {"message_type": "note", "type": "admin", "admin_id": admin_id, "body": transcript},
        )
    for kind, assignee in (("team", session.team_id), ("admin", session.admin_id)):
        if assignee:
            await client.post(
                f"/conversations/{remote_id}/parts",
                {
                    "message_type": "assignment",
                    "type": kind,
                    "admin_id": admin_id,
                    "assignee_id": assignee,
                },
            )
    for name in session.tags:
        tag = await client.post("/tags", {"name": name})
        await client.post(
            f"/conversations/{remote_id}/tags", {"id": str(tag["id"]), "admin_id": admin_id}
        )


async def start_hitl(ctx: Context[IntercomConfiguration], data: StartHitlInput) -> dict[str, str]:
    """Open the conversation as the contact; if shaping it fails, close it and re-raise."""
    user = await ctx.get_user(data.user_id)
    if user is None or CONTACT_TAG not in user.tags:
        raise ValueError(
            f"user {data.user_id!r} was not created by create_user of integration {ctx.alias!r}"
        )
    session = _session(data.hitl_session)
    transcript = await _transcript(ctx, data.message_history, session)
    client = client_for(ctx)
    message = await client.post(
        "/conversations",
        {
            "from": {"type": user.tags.get(CONTACT_ROLE_TAG, "user"), "id": user.tags[CONTACT_TAG]},
            "body": _opening(data.title, data.description),
        },
    )
    if not message.get("conversation_id"):
        raise ValueError(f"Intercom's POST /conversations answer has no conversation_id: {message}")
    remote_id = str(message["conversation_id"])
    try:
        await _shape(client, remote_id, data, session, transcript)
    except Exception:
        with contextlib.suppress(Exception):
            await _close(client, remote_id)
        raise
    conversation = await ctx.create_conversation(channel="hitl", tags={CONVERSATION_TAG: remote_id})
    memo = memo_for(ctx)
    memo.put(f"session:{remote_id}", conversation.id)
    memo.put(f"remote:{conversation.id}", remote_id)
    return {"conversation_id": conversation.id}


async def _close(client: IntercomClient, remote_id: str) -> None:
    body = {"message_type": "close", "type": "admin", "admin_id": await client.bot_admin_id()}
    try:
        await client.post(f"/conversations/{remote_id}/parts", body)
    except IntercomNotFoundError:
        logger.info("Intercom conversation %s was deleted already; nothing to close", remote_id)


async def stop_hitl(ctx: Context[IntercomConfiguration], data: StopHitlInput) -> dict[str, str]:
    """Close as the bot admin; a conversation deleted in Intercom counts as closed."""
    await _close(client_for(ctx), await remote_conversation(ctx, data.conversation_id))
    return {}
