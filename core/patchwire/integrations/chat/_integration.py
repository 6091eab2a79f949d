"""Building an integration that serves the Chat API: ``chat`` and ``webchat`` are two of them.

Each running instance (one per alias in agent.toml) owns one ``ChatApi``: its listeners and
its repository over that alias's host context. The runtime hands every handler the same
context object for an alias, so the context is the key that finds the instance again.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, TypeVar, cast

from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.middleware.exceptions import ExceptionMiddleware
from starlette.routing import BaseRoute, Mount

from patchwire._definitions import ChannelDefinition, EventDefinition, IntegrationDefinition
from patchwire._packages import Integration
from patchwire.integrations.chat._api import ChatApi, refusal
from patchwire.integrations.chat._config import MAX_REQUEST_BYTES, ChatConfiguration
from patchwire.integrations.chat._host import EVENT_TYPE, ContextRepository, CustomEvent, HostApi
from patchwire.messages import PAYLOAD_MODELS

if TYPE_CHECKING:
    from patchwire.runtime import Context
    from patchwire.store import Event, Message

__all__ = ["CHANNEL", "PageRoutes", "build_chat_integration"]

CHANNEL = "channel"
"""The channel name; agents list it as ``"<alias>.channel"``."""

PageRoutes = Callable[[Any], Sequence[BaseRoute]]
"""``pages(configuration) -> routes`` served beside the API (the web chat's page and script)."""

_Config = TypeVar("_Config", bound=ChatConfiguration)

_CORS_METHODS = ["GET", "POST", "PUT", "DELETE"]
_CORS_HEADERS = ["content-type", "x-user-key"]


def build_chat_integration(
    name: str,
    *,
    title: str,
    description: str,
    configuration: type[_Config],
    pages: PageRoutes | None = None,
) -> Integration[_Config]:
    """An integration serving the Chat API under its webhook URL, and ``pages`` beside it."""
    definition = IntegrationDefinition(
        name=name,
        version="0.1.0",
        title=title,
        description=description,
        configuration=configuration,
        channels={
            CHANNEL: ChannelDefinition(
                messages=dict(PAYLOAD_MODELS),
                title="Conversation",
                description="Messages between the agent and a Chat API user.",
            )
        },
        events={
            EVENT_TYPE: EventDefinition(
                payload=CustomEvent, description="A JSON object a client sent (POST /events)."
            )
        },
    )
    # The configured maxRequestBytes is the limit that answers, in the API's error shape.
    integration = Integration(definition, max_body_bytes=MAX_REQUEST_BYTES)
    instances: weakref.WeakKeyDictionary[Context[_Config], tuple[ChatApi, ContextRepository]] = (
        weakref.WeakKeyDictionary()
    )

    def instance(ctx: Context[_Config]) -> tuple[ChatApi, ContextRepository]:
        found = instances.get(ctx)
        if found is None:
            # HostApi states the part of Context the repository uses, with narrower results.
            repository = ContextRepository(cast(HostApi, ctx), CHANNEL)
            found = instances[ctx] = (ChatApi(repository, ctx.configuration, ctx), repository)
        return found

    @integration.routes
    def routes(ctx: Context[_Config]) -> list[BaseRoute]:
        """The pages and the API, behind the alias's cross-origin policy (no origin by default:
        a browser lets only the agent's own pages call it)."""
        api, _ = instance(ctx)
        cors = Middleware(
            CORSMiddleware,
            allow_origins=api.config.allowed_origins,
            allow_methods=_CORS_METHODS,
            allow_headers=_CORS_HEADERS,
            max_age=600,
        )
        errors = Middleware(ExceptionMiddleware, handlers={404: refusal, 405: refusal})
        served = [*(pages(api.config) if pages is not None else []), *api.routes()]
        return [Mount("", routes=served, middleware=[cors, errors])]

    async def deliver(ctx: Context[_Config], message: Message) -> None:
        api, repository = instance(ctx)
        chat_message, joined = await repository.outgoing(message)
        if joined is not None:
            await api.publish_participant(chat_message.conversation_id, joined, added=True)
        await api.publish_message(chat_message)

    async def deliver_event(ctx: Context[_Config], event: Event) -> None:
        api, repository = instance(ctx)
        await api.publish_event(await repository.outgoing_event(event))

    integration.sender(CHANNEL)(deliver)
    integration.event_sender(CHANNEL)(deliver_event)
    return integration
