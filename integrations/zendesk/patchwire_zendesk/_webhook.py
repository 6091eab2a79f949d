"""Inbound: signed trigger webhooks become agent messages, ``hitl_assigned``, ``hitl_stopped``.

The body only names the ticket; comments, authors and the assignee are read back through
the API, so nothing is trusted from Liquid rendering. Only public comments by agents that
were not made through the API are relayed: our own comments (via API) never echo, and an end
user's email reply never poses as the agent.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any

from pydantic import StringConstraints
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from patchwire import Context, WireModel
from patchwire.runtime import MessageError
from patchwire.store import Conversation, User
from patchwire.webhooks import BodyError, Refused, WebhookVerifier, parse_body
from patchwire_zendesk._definition import ZendeskConfiguration
from patchwire_zendesk._desk import AGENT_ROLE, ROLE_TAG, USER_TAG, Desk, desk
from patchwire_zendesk._errors import TicketGoneError
from patchwire_zendesk._signing import ZENDESK_SIGNATURE

__all__ = ["INVOCATION_HEADER", "TriggerBody", "relay_comments", "routes", "webhook"]

INVOCATION_HEADER = "X-Zendesk-Webhook-Invocation-Id"
LAST_COMMENT = "zendeskLastCommentId"
_AGENT_ROLES = ("agent", "admin")


ZendeskId = Annotated[str, StringConstraints(pattern=r"^[0-9]{1,20}$")]
"""A Zendesk id as the triggers render it: digits only (it goes into API paths and tags)."""
MaybeZendeskId = Annotated[str, StringConstraints(pattern=r"^[0-9]{0,20}$")]

MAX_INVOCATION_LENGTH = 100
"""Zendesk's invocation ids are short; a longer header is not Zendesk's (and would not fit the
store's state names)."""
INVOCATION_MEMORY = timedelta(days=2)
"""How long a handled invocation id is remembered; Zendesk retries within minutes, so a
redelivery later than this would be a replay, which the signature's window refuses anyway."""


class TriggerBody(WireModel):
    """What the triggers register made send: ids only."""

    model_config = WireModel.model_config | {"extra": "ignore"}
    event: Annotated[str, StringConstraints(max_length=100)]
    ticket_id: ZendeskId
    comment_id: MaybeZendeskId = ""
    actor_id: MaybeZendeskId = ""
    assignee_id: MaybeZendeskId = ""


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


async def _agent(target: Desk, remote: dict[str, Any]) -> User:
    """The patchwire user standing for a Zendesk agent, kept in step with name and photo."""
    name = remote.get("name") or None
    photo = (remote.get("photo") or {}).get("content_url") or None
    user = await target.ctx.get_or_create_user(
        tags={USER_TAG: str(remote["id"]), ROLE_TAG: AGENT_ROLE}, name=name, picture_url=photo
    )
    if (name and user.name != name) or (photo and user.picture_url != photo):
        user = await target.ctx.update_user(user.id, name=name, picture_url=photo)
    return user


async def relay_comments(
    target: Desk, conversation: Conversation, ticket_id: str, comment_id: str = ""
) -> int:
    """Relay the agents' public comments not relayed yet, oldest first; how many were new.

    Comment ids only grow, so the newest one looked at is kept: later webhooks skip what
    was seen (and need no API read when they name a comment already seen).
    """
    seen = await target.ctx.get_state("conversation", conversation.id, LAST_COMMENT)
    last = int(seen) if isinstance(seen, int) else 0
    if comment_id.isdigit() and int(comment_id) <= last:
        return 0
    comments, users = await target.client.recent_comments(ticket_id)
    relayed = 0
    newest = last
    for comment in comments:
        newest = max(newest, int(comment["id"]))
        if int(comment["id"]) <= last:
            continue
        if not comment.get("public") or (comment.get("via") or {}).get("channel") == "api":
            continue
        author_id = int(comment.get("author_id") or 0)
        author = users.get(author_id) or await target.client.user(str(author_id))
        if author.get("role") not in _AGENT_ROLES:
            continue
        agent = await _agent(target, author)
        text = str(comment.get("plain_body") or comment.get("body") or "").strip()
        parts: list[tuple[str, dict[str, Any], str]] = []
        if text:
            parts.append(("text", {"text": text}, f"comment:{comment['id']}"))
        for attachment in comment.get("attachments") or []:
            url, title = attachment.get("content_url"), attachment.get("file_name")
            if not url:
                continue
            image = str(attachment.get("content_type", "")).startswith("image/")
            payload = {"imageUrl" if image else "fileUrl": url, "title": title or None}
            parts.append(
                (
                    "image" if image else "file",
                    {k: v for k, v in payload.items() if v},
                    f"comment:{comment['id']}:attachment:{attachment.get('id')}",
                )
            )
        for type, payload, key in parts:
            stored = await target.ctx.receive_message(
                conversation_id=conversation.id,
                user_id=agent.id,
                type=type,
                payload=payload,
                tags={"zendeskCommentId": str(comment["id"])},
                dedupe_key=key,
            )
            relayed += stored is not None
    if newest > last:  # a concurrent webhook may have moved it further: never move it back
        await target.ctx.update_state(
            "conversation",
            conversation.id,
            LAST_COMMENT,
            lambda kept: max(newest, kept if isinstance(kept, int) else 0),
        )
    return relayed


async def _assigned(target: Desk, conversation: Conversation, ticket_id: str) -> dict[str, Any]:
    ticket = await target.client.ticket(ticket_id)
    assignee = ticket.get("assignee_id")
    if not assignee:
        return {"ignored": "the ticket was unassigned"}
    agent = await _agent(target, await target.client.user(str(assignee)))
    await target.ctx.emit_event(
        "hitl_assigned",
        {"conversationId": conversation.id, "userId": agent.id},
        conversation_id=conversation.id,
    )
    return {"assigned": agent.id}


async def _handle(target: Desk, body: TriggerBody) -> dict[str, Any]:
    conversation = await target.conversation(body.ticket_id)
    if conversation is None:
        return {"ignored": f"ticket {body.ticket_id} is not a session of this agent"}
    try:
        if body.event == "agent_commented":
            relayed = await relay_comments(target, conversation, body.ticket_id, body.comment_id)
            return {"relayed": relayed}
        if body.event == "assignee_changed":
            return await _assigned(target, conversation, body.ticket_id)
        if body.event == "ticket_solved":
            # The solving comment first, then the end: one update may carry both.
            relayed = await relay_comments(target, conversation, body.ticket_id)
            await target.ticket_gone(body.ticket_id)
            return {"relayed": relayed, "stopped": True}
    except TicketGoneError:
        await target.ticket_gone(body.ticket_id)
        return {"stopped": True}
    return {"ignored": f"unknown event {body.event!r}"}


async def webhook(ctx: Context[ZendeskConfiguration], request: Request) -> Response:
    """Verify, deduplicate, then act; 401 and nothing stored for a bad signature, 400 for a
    body or a header that is not what the triggers send."""
    target = desk(ctx)
    raw = await request.body()
    registration = await target.registration()
    if registration is None:
        return _error(401, "not registered yet: run `patchwire serve` so register can run")
    tolerance = timedelta(seconds=target.configuration.signature_tolerance_seconds)
    try:
        signed = WebhookVerifier(
            ZENDESK_SIGNATURE,
            str(registration["secret"]),
            tolerance=tolerance,
            secret_name="the webhook's signing secret",
        ).check(request.headers, raw)
        invocation = request.headers.get(INVOCATION_HEADER) or ""
        if len(invocation) > MAX_INVOCATION_LENGTH:
            raise BodyError(
                f"{INVOCATION_HEADER} is {len(invocation)} characters long "
                f"(at most {MAX_INVOCATION_LENGTH})"
            )
        body = parse_body(TriggerBody, raw)
    except Refused as refused:
        return refused.response()
    fresh_signature = await ctx.remember(f"signature:{signed.key}", forget_after=2 * tolerance)
    fresh_invocation = (
        await ctx.remember(f"invocation:{invocation}", forget_after=INVOCATION_MEMORY)
        if invocation
        else True
    )
    retry_key = f"failed:{invocation}"
    retrying = bool(invocation) and bool(await ctx.get_state("agent", "zendesk", retry_key))
    if not retrying:
        if not fresh_invocation:
            return JSONResponse({"duplicate": True})
        if not fresh_signature:
            return _error(401, "this signature was used already (a replayed request)")
    try:
        result = await _handle(target, body)
    except MessageError as error:
        return _error(400, str(error))
    except Exception:
        if invocation:  # let Zendesk's retry of this invocation through
            await ctx.set_state("agent", "zendesk", retry_key, True)
        raise
    if retrying:
        await ctx.delete_state("agent", "zendesk", retry_key)
    return JSONResponse(result)


def routes(ctx: Context[ZendeskConfiguration]) -> list[BaseRoute]:
    """The one URL register points Zendesk's webhook at: ``<publicUrl>/webhooks/<alias>``."""

    async def endpoint(request: Request) -> Response:
        return await webhook(ctx, request)

    return [Route("/", endpoint, methods=["POST"])]
