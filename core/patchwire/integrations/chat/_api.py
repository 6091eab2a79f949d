"""The Chat API over HTTP: its Starlette routes, authentication, authorisation, the SSE stream.

Storage goes through ``ChatRepository`` (the host API); this module only decides who may do what
and speaks the wire format, so the ``chat`` and ``webchat`` integrations share all of it.
Cross-origin access is not decided here: the integration wraps these routes in Starlette's
``CORSMiddleware`` with the configured ``allowedOrigins``.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from patchwire.integrations.chat._config import ChatConfiguration
from patchwire.integrations.chat._errors import (
    ApiError,
    already_exists,
    forbidden,
    invalid_payload,
    method_not_found,
    not_found,
)
from patchwire.integrations.chat._keys import sign_user_key, user_id_from_key
from patchwire.integrations.chat._payloads import payload_from_wire
from patchwire.integrations.chat._records import (
    ChatCaller,
    ChatConversation,
    ChatEvent,
    ChatMessage,
)
from patchwire.integrations.chat._repository import ChatRepository
from patchwire.integrations.chat._requests import (
    AddParticipantBody,
    CreateConversationBody,
    CreateEventBody,
    CreateMessageBody,
    CreateUserBody,
    GetOrCreateConversationBody,
    UserFieldsBody,
    check_chat_id,
    read_body,
)
from patchwire.integrations.chat._signals import Broadcaster, Relay, Signals

__all__ = ["ChatApi", "refusal"]

CATCH_UP = timedelta(seconds=5)
"""A stream catches up on the ``message_created`` signals of the messages stored in its
conversation this long before it opened: a client that sends a message and then opens the
stream sees it even when the server was faster than the client."""
CATCH_UP_MESSAGES = 20
"""At most this many of them, the newest."""
OPENING = timedelta(seconds=0.5)
"""The catch-up comes this long after the stream's headers (live signals flow at once). The
official client attaches its signal handlers only once it has seen the stream open, so frames
that reach it in the same read as the headers are dropped unseen, and a busy client machine
reads the headers and whatever the server wrote right after them at once."""


@dataclass(frozen=True)
class _Call:
    request: Request
    params: dict[str, str]


_Endpoint = Callable[["ChatApi", _Call], Awaitable[Response]]


class ChatApi:
    """One chat API: a repository, its limits, and the listeners of this process."""

    def __init__(self, repository: ChatRepository, config: ChatConfiguration, relay: Relay) -> None:
        self.repository = repository
        self.config = config
        self.signals = Signals(relay, Broadcaster(config.listener_queue_size), self._load_signal)

    async def _load_signal(self, signal_type: str, record_id: str) -> dict[str, Any] | None:
        """A signal's data read again from the store (for one too large to broadcast)."""
        if signal_type == "event_created":
            event = await self.repository.get_event(record_id)
            return None if event is None else event.signal()
        message = await self.repository.get_message(record_id)
        return None if message is None else message.signal()

    def routes(self) -> list[Route]:
        """One Starlette route per operation, answering refusals in the API's error shape."""
        return [
            Route(path, self._endpoint(operation), methods=[method])
            for path, method, operation in _OPERATIONS
        ]

    def _endpoint(self, operation: _Endpoint) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            try:
                return await operation(self, _Call(request, dict(request.path_params)))
            except ApiError as error:
                return error.response()

        return endpoint

    async def _caller(self, call: _Call) -> ChatCaller:
        """Who makes the request (their key verified, their user found)."""
        user_id = await self._user_id(call)
        caller = await self.repository.get_caller(user_id)
        if caller is None:
            raise _no_user(user_id)
        return caller

    async def _user_id(self, call: _Call) -> str:
        secrets = [await self.repository.signing_secret()]
        if self.config.encryption_key:
            secrets.append(self.config.encryption_key)
        return user_id_from_key(call.request.headers.get("x-user-key"), secrets)

    async def _member(
        self, call: _Call, conversation_id: str, user_id: str | None = None
    ) -> tuple[ChatCaller, ChatConversation]:
        """Who makes the request (``user_id`` when their key was read already) and the
        conversation it is about, which they must take part in (its owner always does).

        One read when they do; only a refusal reads again, to say which it is: no such user,
        no such conversation, or not a participant.
        """
        user_id = user_id or await self._user_id(call)
        found = await self.repository.find_member(conversation_id, user_id)
        if found is not None:
            return found
        caller = await self.repository.get_caller(user_id)
        if caller is None:
            raise _no_user(user_id)
        if await self.repository.get_conversation(conversation_id) is None:
            raise not_found(f"conversation {conversation_id!r} does not exist")
        raise forbidden(
            f"user {user_id!r} is not a participant of conversation {conversation_id!r}"
        )

    async def _body(self, call: _Call, model: type[Any]) -> Any:
        return await read_body(call.request, model, self.config.max_request_bytes)

    # --- users -------------------------------------------------------------------------------

    async def create_user(self, call: _Call) -> Response:
        body: CreateUserBody = await self._body(call, CreateUserBody)
        user = await self.repository.create_user(
            body.id, name=body.name, picture_url=body.picture_url, profile=body.profile
        )
        if user is None:
            raise already_exists(f"user {body.id!r} already exists: pick another id")
        key = sign_user_key(user.id, await self.repository.signing_secret())
        return _json({"user": user.wire(), "key": key})

    async def get_or_create_user(self, call: _Call) -> Response:
        user_id = check_chat_id(await self._user_id(call), 'the "id" claim of x-user-key')
        body: UserFieldsBody = await self._body(call, UserFieldsBody)
        user = await self.repository.get_user(user_id)
        if user is None:
            user = await self.repository.create_user(
                user_id, name=body.name, picture_url=body.picture_url, profile=body.profile
            )
            user = user or await self.repository.get_user(user_id)
        if user is None:
            raise not_found(f"user {user_id!r} was deleted while being created; retry")
        return _json({"user": user.wire()})

    async def get_user(self, call: _Call) -> Response:
        user_id = await self._user_id(call)
        user = await self.repository.get_user(user_id)
        if user is None:
            raise _no_user(user_id)
        return _json({"user": user.wire()})

    async def update_user(self, call: _Call) -> Response:
        user = await self._caller(call)
        body: UserFieldsBody = await self._body(call, UserFieldsBody)
        updated = await self.repository.update_user(user.id, body.model_dump(exclude_unset=True))
        return _json({"user": updated.wire()})

    async def delete_user(self, call: _Call) -> Response:
        user = await self._caller(call)
        await self.repository.delete_user(user.id)
        await self.signals.disconnect(user_id=user.id)
        return _json({})

    # --- conversations -----------------------------------------------------------------------

    async def create_conversation(self, call: _Call) -> Response:
        user = await self._caller(call)
        body: CreateConversationBody = await self._body(call, CreateConversationBody)
        conversation = await self.repository.create_conversation(body.id, user)
        if conversation is None:
            raise already_exists(f"conversation {body.id!r} already exists: pick another id")
        return _json({"conversation": conversation.wire()})

    async def get_or_create_conversation(self, call: _Call) -> Response:
        user = await self._caller(call)
        body: GetOrCreateConversationBody = await self._body(call, GetOrCreateConversationBody)
        conversation = await self.repository.create_conversation(body.id, user)
        if conversation is None:
            _, conversation = await self._member(call, body.id, user.id)
        return _json({"conversation": conversation.wire()})

    async def get_conversation(self, call: _Call) -> Response:
        _, conversation = await self._member(call, call.params["id"])
        return _json({"conversation": conversation.wire()})

    async def list_conversations(self, call: _Call) -> Response:
        user = await self._caller(call)
        conversations, token = await self.repository.list_conversations(
            user.id, call.request.query_params.get("nextToken"), self.config.page_size
        )
        return _json({"conversations": [c.wire() for c in conversations], "meta": _meta(token)})

    async def delete_conversation(self, call: _Call) -> Response:
        _, conversation = await self._member(call, call.params["id"])
        await self.repository.delete_conversation(conversation.id)
        await self.signals.disconnect(conversation_id=conversation.id)
        return _json({})

    async def listen_conversation(self, call: _Call) -> Response:
        user, conversation = await self._member(call, call.params["id"])
        listener = self.signals.listeners.open(conversation.id, user.id)
        opened = datetime.now(UTC)
        try:
            recent, _ = await self.repository.list_messages(
                conversation.id, None, CATCH_UP_MESSAGES
            )
        except BaseException:
            self.signals.listeners.close(conversation.id, listener)
            raise
        missed = [
            ("message_created", message.signal())
            for message in reversed(recent)
            if opened - message.created_at <= CATCH_UP
        ]
        catching_up = asyncio.get_running_loop().call_later(
            OPENING.total_seconds(), listener.catch_up, missed
        )

        async def stream() -> AsyncIterator[str]:
            try:
                async for frame in listener.frames(self.config.keepalive_seconds):
                    yield frame
            finally:
                catching_up.cancel()
                self.signals.listeners.close(conversation.id, listener)

        return StreamingResponse(
            stream(),
            media_type="text/event-stream",
            headers={"cache-control": "no-cache", "x-accel-buffering": "no"},
        )

    # --- participants ------------------------------------------------------------------------

    async def add_participant(self, call: _Call) -> Response:
        _, conversation = await self._member(call, call.params["conversationId"])
        body: AddParticipantBody = await self._body(call, AddParticipantBody)
        participant = await self.repository.get_user(body.user_id)
        if participant is None:
            raise not_found(f"user {body.user_id!r} does not exist")
        if await self.repository.add_participant(conversation.id, participant.id):
            await self.publish_participant(conversation.id, participant.id, added=True)
        return _json({"participant": participant.wire()})

    async def remove_participant(self, call: _Call) -> Response:
        _, conversation = await self._member(call, call.params["conversationId"])
        participant_id = call.params["userId"]
        if participant_id == conversation.owner_id:
            raise invalid_payload(
                f"user {participant_id!r} owns conversation {conversation.id!r} and cannot be "
                "removed from it: delete the conversation instead"
            )
        if not await self.repository.remove_participant(conversation.id, participant_id):
            raise not_found(
                f"user {participant_id!r} is not a participant of conversation {conversation.id!r}"
            )
        await self.publish_participant(conversation.id, participant_id, added=False)
        await self.signals.disconnect(conversation.id, participant_id)
        return _json({})

    async def get_participant(self, call: _Call) -> Response:
        _, conversation = await self._member(call, call.params["conversationId"])
        participant_id = call.params["userId"]
        participant = await self.repository.get_user(participant_id)
        if participant is None or not await self.repository.find_member(
            conversation.id, participant_id
        ):
            raise not_found(
                f"user {participant_id!r} is not a participant of conversation {conversation.id!r}"
            )
        return _json({"participant": participant.wire()})

    async def list_participants(self, call: _Call) -> Response:
        _, conversation = await self._member(call, call.params["conversationId"])
        participants, token = await self.repository.list_participants(
            conversation, call.request.query_params.get("nextToken"), self.config.page_size
        )
        return _json({"participants": [p.wire() for p in participants], "meta": _meta(token)})

    # --- messages ----------------------------------------------------------------------------

    async def create_message(self, call: _Call) -> Response:
        user_id = await self._user_id(call)
        body: CreateMessageBody = await self._body(call, CreateMessageBody)
        message_type, payload = payload_from_wire(body.payload)
        user, conversation = await self._member(call, body.conversation_id, user_id)
        message = await self.repository.receive_message(
            conversation, user, message_type, payload, body.metadata
        )
        await self.publish_message(message)
        return _json({"message": message.wire()})

    async def get_message(self, call: _Call) -> Response:
        _, message = await self._message(call, call.params["id"])
        return _json({"message": message.wire()})

    async def delete_message(self, call: _Call) -> Response:
        user, message = await self._message(call, call.params["id"])
        if message.user_id != user.id:
            raise forbidden(f"message {message.id!r} was sent by another user; delete your own")
        await self.repository.delete_message(message.id)
        await self.signals.publish(
            message.conversation_id,
            "message_deleted",
            {"id": message.id, "conversationId": message.conversation_id, "userId": user.id},
        )
        return _json({})

    async def list_messages(self, call: _Call) -> Response:
        _, conversation = await self._member(call, call.params["conversationId"])
        messages, token = await self.repository.list_messages(
            conversation.id, call.request.query_params.get("nextToken"), self.config.page_size
        )
        return _json({"messages": [m.wire() for m in messages], "meta": _meta(token)})

    async def _message(self, call: _Call, message_id: str) -> tuple[ChatCaller, ChatMessage]:
        """A message, and who asks for it: a participant of its conversation."""
        user_id = await self._user_id(call)
        message = await self.repository.get_message(message_id)
        if message is None:
            raise not_found(f"message {message_id!r} does not exist")
        user, _ = await self._member(call, message.conversation_id, user_id)
        return user, message

    async def publish_message(self, message: ChatMessage) -> None:
        await self.signals.publish(message.conversation_id, "message_created", message.signal())

    async def publish_event(self, event: ChatEvent) -> None:
        await self.signals.publish(event.conversation_id, "event_created", event.signal())

    async def publish_participant(self, conversation_id: str, user_id: str, *, added: bool) -> None:
        await self.signals.publish(
            conversation_id,
            "participant_added" if added else "participant_removed",
            {"conversationId": conversation_id, "participantId": user_id},
        )

    # --- events ------------------------------------------------------------------------------

    async def create_event(self, call: _Call) -> Response:
        user_id = await self._user_id(call)
        body: CreateEventBody = await self._body(call, CreateEventBody)
        user, conversation = await self._member(call, body.conversation_id, user_id)
        event = await self.repository.create_event(conversation.id, user.id, body.payload)
        await self.publish_event(event)
        return _json({"event": event.wire()})

    async def get_event(self, call: _Call) -> Response:
        user_id = await self._user_id(call)
        event = await self.repository.get_event(call.params["id"])
        if event is None:
            raise not_found(f"event {call.params['id']!r} does not exist")
        await self._member(call, event.conversation_id, user_id)
        return _json({"event": event.wire()})

    async def hello(self, call: _Call) -> Response:
        return _json({})


def _json(body: dict[str, Any]) -> JSONResponse:
    return JSONResponse(body)


def _meta(next_token: str | None) -> dict[str, str]:
    return {"nextToken": next_token} if next_token else {}


def _no_user(user_id: str) -> ApiError:
    return not_found(
        f"user {user_id!r} does not exist: create it with POST /users or POST /users/get-or-create"
    )


async def refusal(request: Request, error: Exception) -> Response:
    """The router's own 404 and 405, in the API's error shape (``exception_handlers``)."""
    path = request.url.path.removeprefix(request.scope.get("root_path", "")) or "/"
    if isinstance(error, HTTPException) and error.status_code == 405:
        return method_not_found(f"{request.method} is not allowed on {path}").response()
    return not_found(f"no Chat API operation at {path}").response()


_OPERATIONS: list[tuple[str, str, _Endpoint]] = [
    ("/hello", "GET", ChatApi.hello),
    ("/users", "POST", ChatApi.create_user),
    ("/users/get-or-create", "POST", ChatApi.get_or_create_user),
    ("/users/me", "GET", ChatApi.get_user),
    ("/users/me", "PUT", ChatApi.update_user),
    ("/users/me", "DELETE", ChatApi.delete_user),
    ("/conversations", "POST", ChatApi.create_conversation),
    ("/conversations", "GET", ChatApi.list_conversations),
    ("/conversations/get-or-create", "POST", ChatApi.get_or_create_conversation),
    ("/conversations/{id}", "GET", ChatApi.get_conversation),
    ("/conversations/{id}", "DELETE", ChatApi.delete_conversation),
    ("/conversations/{id}/listen", "GET", ChatApi.listen_conversation),
    ("/conversations/{conversationId}/messages", "GET", ChatApi.list_messages),
    ("/conversations/{conversationId}/participants", "POST", ChatApi.add_participant),
    ("/conversations/{conversationId}/participants", "GET", ChatApi.list_participants),
    ("/conversations/{conversationId}/participants/{userId}", "GET", ChatApi.get_participant),
    (
        "/conversations/{conversationId}/participants/{userId}",
        "DELETE",
        ChatApi.remove_participant,
    ),
    ("/messages", "POST", ChatApi.create_message),
    ("/messages/{id}", "GET", ChatApi.get_message),
    ("/messages/{id}", "DELETE", ChatApi.delete_message),
    ("/events", "POST", ChatApi.create_event),
    ("/events/{id}", "GET", ChatApi.get_event),
]
