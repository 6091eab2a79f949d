"""Intercom's notifications: verified, parsed, and turned into messages and session events.

Intercom delivers at least once and signs without a timestamp, so a redelivery is byte-for-byte
a replay. Both are answered 200 (an error would make Intercom retry, then suspend the app)
and store nothing: messages and events are keyed by part id, and the notification id is
remembered once handled. Notifications about conversations patchwire did not open are
acknowledged and ignored, since an app receives every conversation of the workspace.
"""

from __future__ import annotations

import contextlib
import logging
from datetime import timedelta
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, StringConstraints
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from patchwire import Context
from patchwire.runtime import MessageError
from patchwire.webhooks import NAME_LENGTH, Refused, parse_body
from patchwire_intercom._channel import conversation_gone
from patchwire_intercom._client import IntercomError
from patchwire_intercom._definition import IntercomConfiguration
from patchwire_intercom._links import ADMIN_TAG, AGENT_ROLE, client_for, memo_for, session_for
from patchwire_intercom._signing import SignatureError, verifier
from patchwire_intercom._text import inbound_message

__all__ = [
    "ASSIGNED",
    "CLOSED",
    "DELETED",
    "NOTED",
    "REPLIED",
    "TOPICS",
    "Notification",
    "handle",
    "routes",
]

logger = logging.getLogger("patchwire_intercom")

REPLIED = "conversation.admin.replied"
ASSIGNED = ("conversation.admin.assigned", "conversation.admin.open.assigned")
CLOSED = "conversation.admin.closed"
DELETED = "conversation.deleted"
NOTED = "conversation.admin.noted"
TOPICS = (REPLIED, *ASSIGNED, CLOSED, DELETED)
"""The topics to subscribe to in the Developer Hub (webhooks are not set up by the API)."""

_MESSAGE_PARTS = {"comment", "quick_reply"}


def _text_id(value: Any) -> Any:
    return str(value) if isinstance(value, int) and not isinstance(value, bool) else value


IntercomId = Annotated[
    str, BeforeValidator(_text_id), StringConstraints(min_length=1, max_length=100)
]
"""Intercom sends ids as strings, and a few (examples, older versions) as numbers; they are
short, and become tags and deduplication keys, so a long one is refused (400)."""

NOTIFICATION_MEMORY = timedelta(days=7)
"""How long a handled notification id is remembered. Intercom redelivers for up to two hours
when throttled and suspends an app after seven days of errors; messages and events stay
deduplicated by part id after that, so the table holds a week of notifications at most."""


class _Loose(BaseModel):
    model_config = ConfigDict(extra="ignore")


class Author(_Loose):
    type: str | None = None
    id: IntercomId | None = None
    name: Annotated[str, StringConstraints(max_length=NAME_LENGTH)] | None = None
    from_ai_agent: bool | None = None
    is_ai_answer: bool | None = None


class Part(_Loose):
    id: IntercomId
    part_type: str | None = None
    body: str | None = None
    author: Author | None = None
    attachments: list[dict[str, Any]] = []
    app_package_code: str | None = None


class _PartList(_Loose):
    conversation_parts: list[Part] = []


class Item(_Loose):
    id: IntercomId
    admin_assignee_id: IntercomId | None = None
    conversation_parts: _PartList | None = None

    @property
    def parts(self) -> list[Part]:
        return self.conversation_parts.conversation_parts if self.conversation_parts else []


class _Data(_Loose):
    item: dict[str, Any] = {}


class Notification(_Loose):
    id: IntercomId
    topic: Annotated[str, StringConstraints(max_length=200)]
    app_id: str | None = None
    data: _Data = _Data()


def _answer(status: int, **body: Any) -> JSONResponse:
    return JSONResponse(body, status_code=status)


async def handle(ctx: Context[IntercomConfiguration], request: Request) -> Response:
    """The one URL Intercom posts every subscribed topic to; answers within milliseconds."""
    configuration = ctx.configuration
    raw = await request.body()
    try:
        verifier(configuration.client_secret).check(request.headers, raw)
    except SignatureError as error:
        logger.warning("refused an Intercom notification for %r: %s", ctx.alias, error)
        return error.response()
    try:
        notification = parse_body(Notification, raw)
        topic = notification.topic
        if topic not in TOPICS:
            return _answer(200, ok=True, topic=topic, result=_unused(topic))
        item = parse_body(Item, notification.data.item)
        result = await _dispatch(ctx, notification, item)
    except Refused as refused:
        return refused.response()
    except MessageError as error:
        return _answer(400, error=str(error))
    first = await ctx.remember(f"notification:{notification.id}", forget_after=NOTIFICATION_MEMORY)
    return _answer(200, ok=True, topic=topic, result=result, duplicate=not first)


def routes(ctx: Context[IntercomConfiguration]) -> list[BaseRoute]:
    """The one URL every topic is posted to: ``<publicUrl>/webhooks/<alias>``."""

    async def endpoint(request: Request) -> Response:
        return await handle(ctx, request)

    return [Route("/", endpoint, methods=["POST"])]


def _unused(topic: str) -> str:
    """Why a topic is acknowledged but not acted on (ping, notes, anything not subscribed)."""
    if topic == "ping":
        return "pong"
    if topic == NOTED:
        return "ignored: notes are not relayed"
    return f"ignored: topic {topic!r} is not used (subscribe to: {', '.join(TOPICS)})"


async def _dispatch(
    ctx: Context[IntercomConfiguration], notification: Notification, item: Item
) -> str:
    topic = notification.topic
    session = await session_for(ctx, item.id)
    if session is None:
        return "ignored: not a conversation patchwire opened"
    if topic == REPLIED:
        return await _replied(ctx, session, item)
    if topic in ASSIGNED:
        return await _assigned(ctx, session, item, notification.id)
    if topic == CLOSED:
        key = _last(item, {"close"}) or notification.id
        await ctx.emit_event(
            "hitl_stopped",
            {"conversationId": session},
            conversation_id=session,
            dedupe_key=f"closed:{key}",
        )
        return "closed"
    await conversation_gone(ctx, session, item.id)
    return "deleted"


def _last(item: Item, part_types: set[str]) -> str | None:
    """The id of the newest part of one of ``part_types`` (the one the topic is about)."""
    for part in reversed(item.parts):
        if part.part_type in part_types:
            return part.id
    return item.parts[-1].id if item.parts else None


async def _is_own(ctx: Context[IntercomConfiguration], part: Part, author: Author) -> bool:
    """Written through the API by our bot admin: an echo of what patchwire sent."""
    return bool(part.app_package_code) and author.id == await client_for(ctx).bot_admin_id()


async def _replied(ctx: Context[IntercomConfiguration], session: str, item: Item) -> str:
    relayed = 0
    for part in item.parts:
        author = part.author
        if part.part_type not in _MESSAGE_PARTS or author is None or author.id is None:
            continue
        if author.type != "admin" or author.from_ai_agent or author.is_ai_answer:
            continue  # Fin, Operator and workflow bots are not the human agent
        if await _is_own(ctx, part, author):
            continue
        message = inbound_message(part.body, part.attachments)
        if message is None:
            continue
        stored = await ctx.receive_message(
            conversation_id=session,
            user_id=await _agent(ctx, author.id, author.name),
            type=message[0],
            payload=message[1],
            dedupe_key=f"part:{part.id}",
        )
        relayed += stored is not None
    return f"relayed {relayed}"


async def _assigned(
    ctx: Context[IntercomConfiguration], session: str, item: Item, notification_id: str
) -> str:
    admin_id = item.admin_assignee_id
    if not admin_id or admin_id == "0":
        return "ignored: assigned to a team or to nobody"
    part_id = _last(item, {"assignment", "assign_and_reopen", "default_assignment"})
    named = next((p.author.name for p in item.parts if p.author and p.author.id == admin_id), None)
    agent_id = await _agent(ctx, admin_id, named, look_up=True)
    await ctx.emit_event(
        "hitl_assigned",
        {"conversationId": session, "userId": agent_id},
        conversation_id=session,
        dedupe_key=f"assigned:{part_id or notification_id}:{admin_id}",
    )
    return "assigned"


async def _agent(
    ctx: Context[IntercomConfiguration], admin_id: str, name: str | None, *, look_up: bool = False
) -> str:
    """The patchwire user id of an Intercom teammate, named from Intercom when we can."""
    memo = memo_for(ctx)
    known = memo.get(f"agent:{admin_id}")
    if known is not None:
        return known
    agent = await ctx.get_or_create_user(tags={ADMIN_TAG: admin_id, **AGENT_ROLE}, name=name)
    if not agent.name and look_up and name is None:
        with contextlib.suppress(IntercomError):
            found = await client_for(ctx).get(f"/admins/{admin_id}")
            name = found.get("name") if isinstance(found.get("name"), str) else None
    if not agent.name and name:
        agent = await ctx.update_user(agent.id, name=name)
    if agent.name:
        memo.put(f"agent:{admin_id}", agent.id)
    return agent.id
