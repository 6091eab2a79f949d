"""The desk as an ASGI app: the service side of the protocol, and the agents' page and API.

The protocol routes (``/ping``, ``/createRemoteUser``, ...) take signed calls from patchwire;
the page and its ``/api`` routes take logged-in agents (:mod:`._auth`). What an agent may do
is decided by the store: claim what nobody holds, reply to and close what they claimed (an
admin may reply to and close anything).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from pydantic import Field, ValidationError
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, RedirectResponse, Response, StreamingResponse
from starlette.routing import Route

from patchwire import WireModel, format_validation_error
from patchwire.server import BodyLimit, html_page
from patchwire.webhooks import SignatureError, WebhookVerifier
from patchwire_generic_hitl._client import IDEMPOTENCY_HEADER, ServiceClient, ServiceError
from patchwire_generic_hitl._definition import GenericHitlConfiguration
from patchwire_generic_hitl._signing import verifier
from patchwire_generic_hitl.desk._accounts import (
    LOGIN_SECONDS,
    Agent,
    Login,
    LoginKind,
    TooManyFailures,
)
from patchwire_generic_hitl.desk._auth import (
    COOKIE,
    AuthError,
    check_json_from_here,
    forget_cookie,
    login_of,
    set_login_cookie,
)
from patchwire_generic_hitl.desk._memory import Answer, CallInProgress, KeyReused
from patchwire_generic_hitl.desk._store import (
    BOT_AUTHOR,
    DeskConflict,
    DeskForbidden,
    DeskStore,
    HistoryEntry,
)
from patchwire_generic_hitl.desk._tables import (
    KEY_LENGTH,
    PATCHWIRE_ID_LENGTH,
    PERSON_LENGTH,
    TYPE_LENGTH,
)
from patchwire_generic_hitl.desk._updates import Updates

__all__ = ["Desk", "DeskSettings", "create_desk_app"]

MAX_BODY_BYTES = 1024 * 1024
"""Every request body, signed or not, protocol or page: 413 past this, before it is read whole."""


@dataclass(frozen=True)
class DeskSettings:
    """Where the desk keeps its data and how it reaches the agent."""

    database: Path | str
    """A SQLite file, or a ``sqlite:///`` / ``postgresql://`` URL."""
    agent_webhook_url: str
    """The agent's ``/webhooks/<alias>`` URL for the generic-hitl integration."""
    signing_secret: str | None
    """Shared with the agent's ``signingSecret``; None only with ``allowUnsigned`` on both sides."""


class _Lenient(WireModel):
    model_config = WireModel.model_config | {"extra": "ignore"}


class _UserPayload(_Lenient):
    name: str = Field(min_length=1, max_length=PERSON_LENGTH)
    email: str | None = Field(default=None, max_length=PERSON_LENGTH)
    picture_url: str | None = None


class _CreateUser(_Lenient):
    payload: _UserPayload


class _HistoryEntry(_Lenient):
    source: dict[str, Any]
    type: str = Field(min_length=1, max_length=TYPE_LENGTH)
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
    botpress_conversation_id: str | None = Field(default=None, max_length=PATCHWIRE_ID_LENGTH)


class _Close(_Lenient):
    payload: _ClosePayload


class _BotPayload(_Lenient):
    model_config = _Lenient.model_config | {"extra": "allow"}
    type: str = Field(default="text", min_length=1, max_length=TYPE_LENGTH)


class _BotMessage(_Lenient):
    remote_conversation_id: str
    remote_user_id: str
    payload: _BotPayload


class _Credentials(WireModel):
    name: str = Field(min_length=1, max_length=200)
    password: str = Field(min_length=1, max_length=1000)


class _NoFields(WireModel):
    """Claim and close take an empty JSON object: who acts is the logged-in agent."""


class _AgentReply(WireModel):
    type: str = Field(pattern="^(text|image|file)$")
    text: str | None = Field(default=None, max_length=4000)
    url: str | None = Field(default=None, max_length=2000)
    title: str | None = Field(default=None, max_length=500)


_Body = TypeVar("_Body", bound=WireModel)

_OPERATIONS = {
    "ping": "_ping",
    "createRemoteUser": "_create_user",
    "createRemoteConversation": "_create_conversation",
    "closeRemoteTicket": "_close",
    "botSendsMessage": "_bot_message",
}
"""The protocol's five calls and the method that answers each."""


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status, headers=headers)


def _agent_user_id(agent: str) -> str:
    return f"agent:{agent}"


def _agent_view(agent: Agent) -> dict[str, Any]:
    return {"name": agent.name, "admin": agent.admin}


class _BadReply(ValueError):
    pass


@dataclass
class Desk:
    """The desk's parts, kept together so a host (``patchwire demo``) can stop them cleanly."""

    settings: DeskSettings
    updates: Updates = field(default_factory=Updates)
    store: DeskStore | None = None
    agent: ServiceClient | None = None
    verifier: WebhookVerifier | None = None

    def _parts(self) -> tuple[DeskStore, ServiceClient]:
        assert self.store is not None and self.agent is not None, "the desk is not running"
        return self.store, self.agent

    def _changed(self, conversation_id: str) -> None:
        self.updates.publish({"conversationId": conversation_id})

    # --- the protocol: patchwire calls these ------------------------------------------------

    async def _check_signature(self, request: Request, raw: bytes) -> None:
        """Core's strict check, each signature accepted once: the desk's database remembers
        what was signed (its timestamp and MAC) for twice the window, across restarts."""
        if self.settings.signing_secret is None:
            return
        assert self.verifier is not None, "the desk is not running"
        await self.verifier.verify(request.headers, raw)

    async def protocol(self, request: Request) -> Response:
        try:
            raw = await request.body()
        except ClientDisconnect:
            return Response(status_code=400)  # BodyLimit answered 413 already, or nobody listens
        try:
            await self._check_signature(request, raw)
        except SignatureError as error:
            return _error(401, str(error))
        operation = request.path_params["operation"]
        return await self._once(request, "protocol", raw, lambda: self._operate(operation, raw))

    async def _once(
        self, request: Request, scope: str, raw: bytes, run: Callable[[], Awaitable[Response]]
    ) -> Response:
        """Run the call once per ``Idempotency-Key`` (if it has one); repeats get its answer.

        Keys are per ``scope`` (the protocol, or one agent), so nobody can answer another's
        call; a call that raises instead of answering is forgotten, so a retry runs it again.
        """
        key = request.headers.get(IDEMPOTENCY_HEADER)
        if key is None:
            return await run()
        if not key or len(key) > KEY_LENGTH or not key.isprintable():
            return _error(
                400, f"{IDEMPOTENCY_HEADER} must be 1 to {KEY_LENGTH} printable characters"
            )
        store, _ = self._parts()
        stored_key = hashlib.sha256(f"{scope}\n{key}".encode()).hexdigest()
        fingerprint = hashlib.sha256(request.url.path.encode() + b"\n" + raw).hexdigest()
        try:
            answered = await store.memory.start_call(stored_key, fingerprint)
        except CallInProgress:
            return _error(
                409,
                f"the first call with this {IDEMPOTENCY_HEADER} is still running: retry later",
                {"Retry-After": "1"},
            )
        except KeyReused:
            return _error(
                422, f"this {IDEMPOTENCY_HEADER} was used for another request: use a new key"
            )
        if answered is not None:
            return Response(
                answered.body,
                status_code=answered.status,
                media_type="application/json",
                headers={"Idempotent-Replayed": "true"},
            )
        try:
            response = await run()
        except BaseException:
            await store.memory.forget_call(stored_key)
            raise
        await store.memory.finish_call(
            stored_key, Answer(response.status_code, bytes(response.body).decode())
        )
        return response

    async def _operate(self, operation: str, raw: bytes) -> Response:
        method = _OPERATIONS.get(operation)
        if method is None:
            return _error(404, f"no operation {operation!r}: use one of {', '.join(_OPERATIONS)}")
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
        history: list[HistoryEntry]
        if data.message_history is not None:
            history = [
                ("bot" if entry.source.get("type") == "bot" else "user", entry.type, entry.payload)
                for entry in data.message_history
            ]
        else:
            history = [
                ("bot" if line.author == "bot" else "user", "text", {"text": line.text})
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
        await store.close_by_patchwire(data.remote_conversation_id)
        self._changed(data.remote_conversation_id)
        return JSONResponse({})

    async def _bot_message(self, body: Any) -> Response:
        store, _ = self._parts()
        data = _BotMessage.model_validate(body)
        type = data.payload.type
        message = dict(data.payload.model_extra or {})
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

    # --- logging in ---------------------------------------------------------------------------

    async def _with_password(
        self, request: Request, kind: LoginKind, answer: Callable[[Agent, str, Login], Response]
    ) -> Response:
        """Check the name and password in the JSON body, then start a login of ``kind``."""
        store, _ = self._parts()
        try:
            check_json_from_here(request)
            data = await _parse(request, _Credentials)
        except AuthError as error:
            return _error(error.status, error.reason)
        except _BadRequest as error:
            return _error(400, str(error))
        try:
            agent = await store.accounts.authenticate(data.name, data.password)
        except TooManyFailures as error:
            return _error(429, str(error), {"Retry-After": str(error.retry_after)})
        if agent is None:
            return _error(401, "wrong name or password")
        token, login = await store.accounts.start_login(agent, kind)
        return answer(agent, token, login)

    async def login(self, request: Request) -> Response:
        """Start a page login: the cookie, and the CSRF token the page sends back."""

        def answer(agent: Agent, token: str, login: Login) -> Response:
            response = JSONResponse({"agent": _agent_view(agent), "csrfToken": login.csrf_token})
            set_login_cookie(response, request, token)
            return response

        return await self._with_password(request, "cookie", answer)

    async def new_token(self, request: Request) -> Response:
        """A bearer token for scripts (``Authorization: Bearer <token>``)."""

        def answer(agent: Agent, token: str, login: Login) -> Response:
            return JSONResponse(
                {"agent": _agent_view(agent), "token": token, "expiresIn": LOGIN_SECONDS}
            )

        return await self._with_password(request, "bearer", answer)

    async def logout(self, request: Request) -> Response:
        async def end(login: Login) -> Response:
            store, _ = self._parts()
            token = request.cookies.get(COOKIE)
            if login.kind == "bearer":
                token = request.headers["authorization"].partition(" ")[2].strip()
            if token:
                await store.accounts.end_login(token)
            response = JSONResponse({"ok": True})
            forget_cookie(response)
            return response

        return await self._as_agent(request, end)

    async def me(self, request: Request) -> Response:
        async def show(login: Login) -> Response:
            answer: dict[str, Any] = {"agent": _agent_view(login.agent)}
            if login.kind == "cookie":
                answer["csrfToken"] = login.csrf_token
            return JSONResponse(answer)

        return await self._as_agent(request, show)

    async def _as_agent(
        self, request: Request, action: Callable[[Login], Awaitable[Response]]
    ) -> Response:
        """Run ``action`` for the logged-in agent (a POST once per ``Idempotency-Key``);
        401/403/415 with the reason when nobody is logged in or the request is refused."""
        store, _ = self._parts()
        try:
            if request.method == "POST":
                check_json_from_here(request)
            login = await login_of(request, store.accounts)
        except AuthError as error:
            return _error(error.status, error.reason)
        if request.method != "POST":
            return await action(login)
        try:
            raw = await request.body()
        except ClientDisconnect:
            return Response(status_code=400)  # BodyLimit answered 413 already, or nobody listens
        return await self._once(request, f"agent:{login.agent.id}", raw, lambda: action(login))

    # --- the agents' API: the page calls these ----------------------------------------------

    async def list_conversations(self, request: Request) -> Response:
        async def listing(login: Login) -> Response:
            store, _ = self._parts()
            return JSONResponse({"conversations": await store.conversations()})

        return await self._as_agent(request, listing)

    async def get_conversation(self, request: Request) -> Response:
        async def one(login: Login) -> Response:
            store, _ = self._parts()
            try:
                return JSONResponse(await store.conversation(request.path_params["id"]))
            except KeyError as error:
                return _error(404, str(error.args[0]))

        return await self._as_agent(request, one)

    async def claim(self, request: Request) -> Response:
        return await self._conversation_action(request, _NoFields, self._claim)

    async def reply(self, request: Request) -> Response:
        return await self._conversation_action(request, _AgentReply, self._reply)

    async def close(self, request: Request) -> Response:
        return await self._conversation_action(request, _NoFields, self._close_by_agent)

    async def _conversation_action(
        self,
        request: Request,
        model: type[_Body],
        action: Callable[[str, Agent, _Body], Awaitable[Response]],
    ) -> Response:
        async def act(login: Login) -> Response:
            conversation_id = request.path_params["id"]
            try:
                data = await _parse(request, model)
                return await action(conversation_id, login.agent, data)
            except (_BadRequest, _BadReply) as error:
                return _error(400, str(error))
            except KeyError as error:
                return _error(404, str(error.args[0]))
            except DeskForbidden as error:
                return _error(403, str(error))
            except DeskConflict as error:
                return _error(409, str(error))
            except ServiceError as error:
                return _error(502, f"the agent did not take it: {error}")
            finally:
                self._changed(conversation_id)

        return await self._as_agent(request, act)

    async def _claim(self, conversation_id: str, agent: Agent, data: _NoFields) -> Response:
        store, client = self._parts()
        if await store.claim(conversation_id, agent.name):
            try:
                await client.call(
                    "/agent-assigned",
                    {
                        "remoteConversationId": conversation_id,
                        "remoteUserId": _agent_user_id(agent.name),
                        "name": agent.name,
                    },
                )
            except ServiceError:
                await store.release(conversation_id, agent.name)
                raise
        return JSONResponse({"ok": True})

    async def _reply(self, conversation_id: str, agent: Agent, data: _AgentReply) -> Response:
        store, _ = self._parts()
        payload = _reply_payload(data)
        message_id = await store.add_reply(
            conversation_id, agent.name, admin=agent.admin, type=data.type, payload=payload
        )
        await self._deliver(conversation_id, message_id, agent.name, data.type, payload)
        return JSONResponse({"ok": True, "id": message_id})

    async def redeliver(self, request: Request) -> Response:
        """Send an agent's message again with the same ``messageId`` (the agent keeps one)."""

        async def again(login: Login) -> Response:
            store, _ = self._parts()
            try:
                conversation_id, message = await store.agent_message(request.path_params["id"])
            except KeyError as error:
                return _error(404, str(error.args[0]))
            if message["author"] != login.agent.name and not login.agent.admin:
                return _error(
                    403,
                    f"{message['author']} wrote this message: only they or an admin can "
                    "send it again",
                )
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

        return await self._as_agent(request, again)

    async def _deliver(
        self, conversation_id: str, message_id: str, agent_name: str, type: str, payload: Any
    ) -> None:
        store, client = self._parts()
        try:
            await client.call(
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

    async def _close_by_agent(
        self, conversation_id: str, agent: Agent, data: _NoFields
    ) -> Response:
        store, client = self._parts()
        await store.check_can_close(conversation_id, agent.name, admin=agent.admin)
        await client.call("/stop-hitl", {"remoteConversationId": conversation_id})
        await store.close_by_agent(conversation_id, agent.name)
        return JSONResponse({"ok": True})

    async def events(self, request: Request) -> Response:
        async def stream(login: Login) -> Response:
            return StreamingResponse(
                self.updates.stream(),
                media_type="text/event-stream",
                headers={"cache-control": "no-cache", "x-accel-buffering": "no"},
            )

        return await self._as_agent(request, stream)

    # --- the pages ------------------------------------------------------------------------------

    async def page(self, request: Request) -> Response:
        """The desk, for a logged-in agent; anyone else is sent to the login page."""
        store, _ = self._parts()
        try:
            await login_of(request, store.accounts)
        except AuthError:
            return RedirectResponse("login", status_code=303)
        return _guarded(html_page(__package__ or __name__, "page.html"))

    async def login_page(self, request: Request) -> Response:
        return _guarded(html_page(__package__ or __name__, "login.html"))


class _BadRequest(ValueError):
    """A body that is not the JSON object the route takes."""


async def _parse(request: Request, model: type[_Body]) -> _Body:
    try:
        return model.model_validate(await request.json())
    except ClientDisconnect:
        raise _BadRequest("the body was cut off (or over the size limit)") from None
    except ValidationError as error:
        raise _BadRequest(format_validation_error(error)) from None
    except ValueError as error:
        raise _BadRequest(f"the body is not JSON: {error}") from None


def _guarded(response: Response) -> Response:
    """No framing by other sites (clickjacking) and no URLs leaked to them."""
    response.headers["x-frame-options"] = "DENY"
    response.headers["referrer-policy"] = "same-origin"
    return response


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
    """The desk's ASGI app; it opens (and migrates) its database when it starts."""
    desk = desk or Desk(settings)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        desk.store = await DeskStore.open(settings.database)
        if settings.signing_secret is not None:
            desk.verifier = verifier(settings.signing_secret, remember=desk.store.memory.remember)
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
            Route("/login", desk.login_page),
            Route("/api/login", desk.login, methods=["POST"]),
            Route("/api/logout", desk.logout, methods=["POST"]),
            Route("/api/tokens", desk.new_token, methods=["POST"]),
            Route("/api/me", desk.me),
            Route("/api/conversations", desk.list_conversations),
            Route("/api/conversations/{id}", desk.get_conversation),
            Route("/api/conversations/{id}/claim", desk.claim, methods=["POST"]),
            Route("/api/conversations/{id}/messages", desk.reply, methods=["POST"]),
            Route("/api/conversations/{id}/close", desk.close, methods=["POST"]),
            Route("/api/messages/{id}/redeliver", desk.redeliver, methods=["POST"]),
            Route("/api/events", desk.events),
            Route("/{operation}", desk.protocol, methods=["POST"]),
        ],
        middleware=[Middleware(BodyLimit, max_bytes=MAX_BODY_BYTES)],
        lifespan=lifespan,
    )
