"""The integration: the five calls to the service, and the three webhooks it calls back."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Annotated, Any, TypeVar

from pydantic import StringConstraints
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from patchwire import Context, Integration, WireModel
from patchwire.interfaces.hitl import CreateUserInput, StartHitlInput, StopHitlInput
from patchwire.messages import MessageHistoryEntry, as_text
from patchwire.runtime import MessageError
from patchwire.store import Conversation, Message
from patchwire.webhooks import (
    NAME_LENGTH,
    Key,
    Refused,
    TagValue,
    WebhookVerifier,
    parse_body,
)
from patchwire_generic_hitl._client import ServiceClient, ServiceError
from patchwire_generic_hitl._definition import GenericHitlConfiguration, definition
from patchwire_generic_hitl._signing import HEADER, verifier

__all__ = ["REMOTE_CONVERSATION_TAG", "REMOTE_USER_TAG", "integration"]

REMOTE_USER_TAG = "remoteUserId"
REMOTE_CONVERSATION_TAG = "remoteConversationId"
BOT = "BOT"

integration = Integration(definition)


def _new_client(ctx: Context[GenericHitlConfiguration]) -> ServiceClient:
    return ServiceClient(ctx.configuration)


def client(ctx: Context[GenericHitlConfiguration]) -> ServiceClient:
    """The alias's HTTP client, closed when the agent stops."""
    return ctx.local(_new_client)


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


@integration.on_check
async def ping(configuration: GenericHitlConfiguration) -> list[str]:
    """The service answers a signed ``/ping`` (what ``patchwire check --online`` runs)."""
    service = ServiceClient(configuration)
    try:
        await service.call("/ping", {"type": "ping"})
    except ServiceError as error:
        return [str(error)]
    finally:
        await service.close()
    return []


@integration.action("create_user")
async def create_user(
    ctx: Context[GenericHitlConfiguration], data: CreateUserInput
) -> dict[str, str]:
    payload = {
        "role": "end-user",
        "name": data.name,
        "pictureUrl": data.picture_url,
        "email": data.email,
    }
    answer = await client(ctx).call(
        "/createRemoteUser",
        {
            "type": "createRemoteUser",
            "payload": {k: v for k, v in payload.items() if v is not None},
        },
        idempotency_key=ctx.idempotency_key(),
    )
    remote_id = _remote_id(answer, "/createRemoteUser")
    user = await ctx.get_or_create_user(
        tags={REMOTE_USER_TAG: remote_id}, name=data.name, picture_url=data.picture_url
    )
    return {"user_id": user.id}


def _remote_id(answer: dict[str, Any], path: str) -> str:
    value = answer.get("id")
    if not isinstance(value, str) or not value:
        raise ValueError(f"the service's {path} answer has no string 'id': {answer!r}")
    return value


def _transcript_line(entry: MessageHistoryEntry, moment: str) -> dict[str, str]:
    author = "bot" if entry.source.type == "bot" else entry.source.user_id
    return {"text": as_text(entry.type, entry.payload), "author": author, "timestamp": moment}


@integration.action("start_hitl")
async def start_hitl(
    ctx: Context[GenericHitlConfiguration], data: StartHitlInput
) -> dict[str, str]:
    user = await ctx.get_user(data.user_id)
    if user is None or REMOTE_USER_TAG not in user.tags:
        raise ValueError(
            f"user {data.user_id!r} was not created by create_user of this integration"
        )
    moment = datetime.now(UTC).isoformat()
    payload: dict[str, Any] = {
        "userId": user.tags[REMOTE_USER_TAG],
        "messages": [_transcript_line(entry, moment) for entry in data.message_history],
        "messageHistory": [entry.model_dump(by_alias=True) for entry in data.message_history],
    }
    for key, value in (("title", data.title), ("description", data.description)):
        if value is not None:
            payload[key] = value
    if data.hitl_session is not None:
        session = data.hitl_session
        payload["hitlSession"] = (
            session.model_dump(by_alias=True) if isinstance(session, WireModel) else session
        )
    answer = await client(ctx).call(
        "/createRemoteConversation",
        {"type": "createRemoteConversation", "payload": payload},
        idempotency_key=ctx.idempotency_key(),
    )
    conversation = await ctx.create_conversation(
        channel="hitl",
        tags={REMOTE_CONVERSATION_TAG: _remote_id(answer, "/createRemoteConversation")},
    )
    return {"conversation_id": conversation.id}


@integration.action("stop_hitl")
async def stop_hitl(ctx: Context[GenericHitlConfiguration], data: StopHitlInput) -> dict[str, str]:
    conversation = await ctx.get_conversation(data.conversation_id)
    if conversation is None or REMOTE_CONVERSATION_TAG not in conversation.tags:
        raise ValueError(
            f"conversation {data.conversation_id!r} is not a session of this integration"
        )
    await client(ctx).call(
        "/closeRemoteTicket",
        {
            "type": "closeRemoteTicket",
            "payload": {
                "remoteConversationId": conversation.tags[REMOTE_CONVERSATION_TAG],
                "botpressConversationId": conversation.id,
            },
        },
        idempotency_key=ctx.idempotency_key(),
    )
    return {}


async def send(ctx: Context[GenericHitlConfiguration], message: Message) -> None:
    conversation = await ctx.get_conversation(message.conversation_id)
    assert conversation is not None
    payload = dict(message.payload)
    author_id = payload.pop("userId", None)
    author = await ctx.get_user(str(author_id)) if author_id else None
    remote_user = author.tags.get(REMOTE_USER_TAG, BOT) if author else BOT
    await client(ctx).call(
        "/botSendsMessage",
        {
            "type": "botSendsMessage",
            "remoteConversationId": conversation.tags[REMOTE_CONVERSATION_TAG],
            "remoteUserId": remote_user,
            "payload": {"type": message.type, **payload},
        },
        idempotency_key=message.id,
    )


integration.sender("hitl")(send)


class _Webhook(WireModel):
    """Every webhook names the remote conversation; unknown fields are ignored."""

    model_config = WireModel.model_config | {"extra": "ignore"}
    remote_conversation_id: TagValue


class _AgentMessage(_Webhook):
    remote_user_id: TagValue
    message_type: str
    payload: dict[str, Any]
    message_id: Key | None = None


class _AgentAssigned(_Webhook):
    remote_user_id: TagValue
    name: Annotated[str, StringConstraints(max_length=NAME_LENGTH)] | None = None
    picture_url: str | None = None


class _StopHitl(_Webhook):
    pass


def _new_verifier(ctx: Context[GenericHitlConfiguration]) -> WebhookVerifier | None:
    configuration = ctx.configuration
    if not configuration.signing_secret:
        return None
    return verifier(configuration.signing_secret, remember=ctx.remember)


async def _verified(ctx: Context[GenericHitlConfiguration], request: Request) -> bytes:
    """The raw body once its signature holds and was not seen before (unsigned only when the
    configuration allows it)."""
    configuration = ctx.configuration
    checker = ctx.local(_new_verifier)
    if checker is None or (configuration.allow_unsigned and HEADER not in request.headers):
        return await request.body()
    return await checker.read(request)


_Body = TypeVar("_Body", bound=_Webhook)
_Act = Callable[[Context[GenericHitlConfiguration], Conversation, _Body], Awaitable[Response]]


def _webhook(
    ctx: Context[GenericHitlConfiguration], model: type[_Body], act: _Act[_Body]
) -> Callable[..., Any]:
    """An endpoint: verify, parse ``model``, find the conversation it names, then ``act``;
    a refused signature is a 401, a body the route or the channel refuses a 400."""

    async def endpoint(request: Request) -> Response:
        try:
            body = parse_body(model, await _verified(ctx, request))
            found = await ctx.find_conversations(
                {REMOTE_CONVERSATION_TAG: body.remote_conversation_id}, own=True
            )
            if not found:
                return _error(404, f"unknown remoteConversationId {body.remote_conversation_id!r}")
            return await act(ctx, found[0], body)
        except Refused as refused:
            return refused.response()
        except MessageError as error:
            return _error(400, str(error))

    return endpoint


async def _message_from_agent(
    ctx: Context[GenericHitlConfiguration], conversation: Conversation, body: _AgentMessage
) -> Response:
    agent = await ctx.get_or_create_user(
        tags={REMOTE_USER_TAG: body.remote_user_id, "role": "agent"}
    )
    stored = await ctx.receive_message(
        conversation_id=conversation.id,
        user_id=agent.id,
        type=body.message_type,
        payload=body.payload,
        dedupe_key=body.message_id,
    )
    return JSONResponse({"ok": True, "duplicate": stored is None and body.message_id is not None})


async def _agent_assigned(
    ctx: Context[GenericHitlConfiguration], conversation: Conversation, body: _AgentAssigned
) -> Response:
    agent = await ctx.get_or_create_user(
        tags={REMOTE_USER_TAG: body.remote_user_id, "role": "agent"},
        name=body.name,
        picture_url=body.picture_url,
    )
    if body.name or body.picture_url:
        agent = await ctx.update_user(agent.id, name=body.name, picture_url=body.picture_url)
    await ctx.emit_event(
        "hitl_assigned",
        {"conversationId": conversation.id, "userId": agent.id},
        conversation_id=conversation.id,
    )
    return JSONResponse({"ok": True})


async def _stop_hitl(
    ctx: Context[GenericHitlConfiguration], conversation: Conversation, body: _StopHitl
) -> Response:
    await ctx.emit_event(
        "hitl_stopped", {"conversationId": conversation.id}, conversation_id=conversation.id
    )
    return JSONResponse({"ok": True})


@integration.routes
def routes(ctx: Context[GenericHitlConfiguration]) -> list[BaseRoute]:
    """The three webhooks the service calls, under ``/webhooks/<alias>/``."""
    return [
        Route(
            "/message-from-agent",
            _webhook(ctx, _AgentMessage, _message_from_agent),
            methods=["POST"],
        ),
        Route("/agent-assigned", _webhook(ctx, _AgentAssigned, _agent_assigned), methods=["POST"]),
        Route("/stop-hitl", _webhook(ctx, _StopHitl, _stop_hitl), methods=["POST"]),
    ]
