"""The desk as an ASGI app: the service side of the protocol, and the agents' page and API.

The protocol routes (``/ping``, ``/createRemoteUser``, ...) take signed calls from patchwire.
The page and its ``/api`` routes have no login: the desk is a reference service for one
machine or a trusted network, and listens on 127.0.0.1 unless told otherwise.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import Field, ValidationError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from patchwire import WireModel
from patchwire._errors import format_validation_error
from patchwire.server import html_page
from patchwire_generic_hitl._client import ServiceClient, ServiceError
from patchwire_generic_hitl._definition import GenericHitlConfiguration
from patchwire_generic_hitl._recent import Recent
from patchwire_generic_hitl._signing import HEADER, TOLERANCE_SECONDS, SignatureError, verify
from patchwire_generic_hitl.desk._store import DeskConflict, DeskStore
from patchwire_generic_hitl.desk._updates import Updates

__all__ = ["Desk", "DeskSettings", "create_desk_app"]

BOT_AUTHOR = "Bot"


@dataclass(frozen=True)
class DeskSettings:
    """Where the desk keeps its data and how it reaches the agent."""

    database: Path
    agent_webhook_url: str
    """The agent's ``/webhooks/<alias>`` URL for the generic-hitl integration."""
    signing_secret: str | None
    """Shared with the agent's ``signingSecret``; None only with ``allowUnsigned`` on both sides."""


class _Lenient(WireModel):
    model_config = WireModel.model_config | {"extra": "ignore"}


class _UserPayload(_Lenient):
    name: str = Field(min_length=1)
    email: str | None = None
    picture_url: str | None = None


class _CreateUser(_Lenient):
    payload: _UserPayload


class _HistoryEntry(_Lenient):
    source: dict[str, Any]
    type: str
    payload: dict[str, Any]


class _FlatLine(_Lenient):
    text: str
    author: str


class _ConversationPayload(_Lenient):
    user_id: str
    title: str | None = None
    description: str | None = None
    messages: list[_FlatLine] = Field(default_factory=list)
    message_history: list[_HistoryEntry] | None = None


class _CreateConversation(_Lenient):
    payload: _ConversationPayload


class _ClosePayload(_Lenient):
    remote_conversation_id: str
    botpress_conversation_id: str | None = None


class _Close(_Lenient):
    payload: _ClosePayload


class _BotMessage(_Lenient):
    remote_conversation_id: str
    remote_user_id: str
    payload: dict[str, Any]


class _AgentAction(_Lenient):
    agent: str = Field(min_length=1, max_length=60)


class _AgentReply(_AgentAction):
    type: str = Field(pattern="^(text|image|file)$")
    text: str | None = None
    url: str | None = None
    title: str | None = None


_OPERATIONS = {
    "ping": "_ping",
    "createRemoteUser": "_create_user",
    "createRemoteConversation": "_create_conversation",
    "closeRemoteTicket": "_close",
    "botSendsMessage": "_bot_message",
}
"""The protocol's five calls and the method that answers each."""


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


def _agent_user_id(agent: str) -> str:
    return f"agent:{agent}"


@dataclass
class Desk:
    """The desk's parts, kept together so a host (``patchwire demo``) can stop them cleanly."""

    settings: DeskSettings
    updates: Updates = field(default_factory=Updates)
    store: DeskStore | None = None
    agent: ServiceClient | None = None
    _seen_signatures: Recent[str] = field(default_factory=lambda: Recent(2 * TOLERANCE_SECONDS))

    def _parts(self) -> tuple[DeskStore, ServiceClient]:
        assert self.store is not None and self.agent is not None, "the desk is not running"
        return self.store, self.agent

    async def _signed_body(self, request: Request) -> bytes:
        raw = await request.body()
        secret = self.settings.signing_secret
        if secret is None:
            return raw
        header = request.headers.get(HEADER)
        verify(secret, header, raw)
        now = time.time()
        assert header is not None
        if self._seen_signatures.get(header, now) is not None:
            raise SignatureError("this signature was used already (a replayed request)")
        self._seen_signatures.put(header, now)
        return raw

    def _changed(self, conversation_id: str) -> None:
        self.updates.publish({"conversationId": conversation_id})

    # --- the protocol: patchwire calls these ------------------------------------------------

    async def protocol(self, request: Request) -> Response:
        try:
            raw = await self._signed_body(request)
        except SignatureError as error:
            return _error(401, str(error))
        path = request.path_params["operation"]
        method = _OPERATIONS.get(path)
        if method is None:
            return _error(404, f"no operation {path!r}: use one of {', '.join(_OPERATIONS)}")
        handler: Callable[[Any], Awaitable[Response]] = getattr(self, method)
        try:
            body = json.loads(raw or b"null")
            return await handler(body)
        except ValidationError as error:
            return _error(400, f"malformed body: {format_validation_error(error)}")
        except ValueError as error:
            return _error(400, f"malformed body: {error}")
        except KeyError as error:
            return _error(404, str(error.args[0]))

    async def _ping(self, body: Any) -> Response:
        return JSONResponse({})

    async def _create_user(self, body: Any) -> Response:
        store, _ = self._parts()
        user = _CreateUser.model_validate(body).payload
        person = await store.add_person(user.name, user.email, user.picture_url)
        return JSONResponse({"id": person})

    async def _create_conversation(self, body: Any) -> Response:
        store, _ = self._parts()
        data = _CreateConversation.model_validate(body).payload
        name = await store.person_name(data.user_id)
        if name is None:
            raise KeyError(f"no person {data.user_id!r}: create it with /createRemoteUser")
        history: list[tuple[str, str, str, dict[str, Any]]]
        if data.message_history is not None:
            history = [
                ("bot", BOT_AUTHOR, entry.type, entry.payload)
                if entry.source.get("type") == "bot"
                else ("user", name, entry.type, entry.payload)
                for entry in data.message_history
            ]
        else:
            history = [
                (
                    "bot" if line.author == "bot" else "user",
                    line.author,
                    "text",
                    {"text": line.text},
                )
                for line in data.messages
            ]
        conversation = await store.open_conversation(
            data.user_id, title=data.title, description=data.description, history=history
        )
        self._changed(conversation)
        return JSONResponse({"id": conversation})

    async def _close(self, body: Any) -> Response:
        store, _ = self._parts()
        data = _Close.model_validate(body).payload
        if data.botpress_conversation_id:
            await store.link(data.remote_conversation_id, data.botpress_conversation_id)
        await store.close_conversation(data.remote_conversation_id, "the conversation's end")
        self._changed(data.remote_conversation_id)
        return JSONResponse({})

    async def _bot_message(self, body: Any) -> Response:
        store, _ = self._parts()
        data = _BotMessage.model_validate(body)
        message = dict(data.payload)
        type = str(message.pop("type", "text"))
        person = await store.conversation_person(data.remote_conversation_id)
        if data.remote_user_id == person:
            kind, author = "user", await store.person_name(person) or person
        else:
            kind, author = "bot", BOT_AUTHOR
        try:
            await store.add_message(
                data.remote_conversation_id, kind=kind, author=author, type=type, payload=message
            )
        except DeskConflict as error:
            return _error(409, str(error))
        self._changed(data.remote_conversation_id)
        return JSONResponse({})

    # --- the agents' API: the page calls these ----------------------------------------------

    async def list_conversations(self, request: Request) -> Response:
        store, _ = self._parts()
        return JSONResponse({"conversations": await store.conversations()})

    async def get_conversation(self, request: Request) -> Response:
        store, _ = self._parts()
        try:
            return JSONResponse(await store.conversation(request.path_params["id"]))
        except KeyError as error:
            return _error(404, str(error.args[0]))

    async def claim(self, request: Request) -> Response:
        return await self._agent_call(request, _AgentAction, self._claim)

    async def reply(self, request: Request) -> Response:
        return await self._agent_call(request, _AgentReply, self._reply)

    async def close(self, request: Request) -> Response:
        return await self._agent_call(request, _AgentAction, self._close_by_agent)

    async def _agent_call(
        self,
        request: Request,
        model: type[_AgentAction],
        action: Callable[[str, Any], Awaitable[Response]],
    ) -> Response:
        try:
            data = model.model_validate(await request.json())
        except ValidationError as error:
            return _error(400, format_validation_error(error))
        except ValueError as error:
            return _error(400, f"the body is not JSON: {error}")
        conversation_id = request.path_params["id"]
        try:
            return await action(conversation_id, data)
        except KeyError as error:
            return _error(404, str(error.args[0]))
        except _BadReply as error:
            return _error(400, str(error))
        except DeskConflict as error:
            return _error(409, str(error))
        except ServiceError as error:
            return _error(502, f"the agent did not take it: {error}")
        finally:
            self._changed(conversation_id)

    async def _claim(self, conversation_id: str, data: _AgentAction) -> Response:
        store, agent = self._parts()
        if await store.claim(conversation_id, data.agent):
            try:
                await agent.call(
                    "/agent-assigned",
                    {
                        "remoteConversationId": conversation_id,
                        "remoteUserId": _agent_user_id(data.agent),
                        "name": data.agent,
                    },
                )
            except ServiceError:
                await store.release(conversation_id, data.agent)
                raise
        return JSONResponse({"ok": True})

    async def _reply(self, conversation_id: str, data: _AgentReply) -> Response:
        store, _ = self._parts()
        payload = _reply_payload(data)
        message_id = await store.add_message(
            conversation_id,
            kind="agent",
            author=data.agent,
            type=data.type,
            payload=payload,
            agent=data.agent,
        )
        await self._deliver(conversation_id, message_id, data.agent, data.type, payload)
        return JSONResponse({"ok": True, "id": message_id})

    async def redeliver(self, request: Request) -> Response:
        """Send an agent's message again with the same ``messageId`` (the agent keeps one)."""
        store, _ = self._parts()
        try:
            conversation_id, message = await store.agent_message(request.path_params["id"])
        except KeyError as error:
            return _error(404, str(error.args[0]))
        try:
            await self._deliver(
                conversation_id,
                message["id"],
                message["author"],
                message["type"],
                message["payload"],
            )
        except ServiceError as error:
            return _error(502, f"the agent did not take it: {error}")
        finally:
            self._changed(conversation_id)
        return JSONResponse({"ok": True, "id": message["id"]})

    async def _deliver(
        self, conversation_id: str, message_id: str, agent_name: str, type: str, payload: Any
    ) -> None:
        store, agent = self._parts()
        try:
            await agent.call(
                "/message-from-agent",
                {
                    "remoteConversationId": conversation_id,
                    "remoteUserId": _agent_user_id(agent_name),
                    "messageType": type,
                    "payload": payload,
                    "messageId": message_id,
                },
            )
        except ServiceError as error:
            await store.mark_delivery(message_id, str(error))
            raise
        await store.mark_delivery(message_id, None)

    async def _close_by_agent(self, conversation_id: str, data: _AgentAction) -> Response:
        store, agent = self._parts()
        current = await store.conversation(conversation_id)
        if current["status"] == "closed":
            raise DeskConflict("the conversation is closed already")
        await agent.call("/stop-hitl", {"remoteConversationId": conversation_id})
        await store.close_conversation(conversation_id, data.agent)
        return JSONResponse({"ok": True})

    async def events(self, request: Request) -> Response:
        return StreamingResponse(
            self.updates.stream(),
            media_type="text/event-stream",
            headers={"cache-control": "no-cache", "x-accel-buffering": "no"},
        )

    async def page(self, request: Request) -> Response:
        return html_page(__package__ or __name__, "page.html")


class _BadReply(ValueError):
    pass


def _reply_payload(data: _AgentReply) -> dict[str, Any]:
    """The message payload in the standard shapes (``text``, ``imageUrl``, ``fileUrl``)."""
    if data.type == "text":
        if not data.text or not data.text.strip():
            raise _BadReply("a text reply needs some text")
        return {"text": data.text}
    if not data.url or not data.url.startswith(("http://", "https://")):
        raise _BadReply(f"an image or file reply needs an http(s) URL, not {data.url!r}")
    key = "imageUrl" if data.type == "image" else "fileUrl"
    payload: dict[str, Any] = {key: data.url}
    if data.title:
        payload["title"] = data.title
    return payload


def create_desk_app(settings: DeskSettings, desk: Desk | None = None) -> Starlette:
    """The desk's ASGI app; it opens its SQLite file when it starts."""
    desk = desk or Desk(settings)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        desk.store = await DeskStore.open(settings.database)
        desk.agent = ServiceClient(
            GenericHitlConfiguration(
                endpoint_base_url=settings.agent_webhook_url,
                signing_secret=settings.signing_secret,
                allow_unsigned=settings.signing_secret is None,
            )
        )
        try:
            yield
        finally:
            desk.updates.close()
            await desk.agent.close()
            await desk.store.close()

    return Starlette(
        routes=[
            Route("/", desk.page),
            Route("/api/conversations", desk.list_conversations),
            Route("/api/conversations/{id}", desk.get_conversation),
            Route("/api/conversations/{id}/claim", desk.claim, methods=["POST"]),
            Route("/api/conversations/{id}/messages", desk.reply, methods=["POST"]),
            Route("/api/conversations/{id}/close", desk.close, methods=["POST"]),
            Route("/api/messages/{id}/redeliver", desk.redeliver, methods=["POST"]),
            Route("/api/events", desk.events),
            Route("/{operation}", desk.protocol, methods=["POST"]),
        ],
        lifespan=lifespan,
    )
