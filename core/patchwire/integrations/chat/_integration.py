"""Building an integration that serves the Chat API: ``chat`` and ``webchat`` are two of them.

Each running instance (one per alias in agent.toml) owns one ``ChatApi``: its listeners and
its repository over that alias's host context. The runtime hands every handler the same
context object for an alias, so the context is the key that finds the instance again.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from patchwire._definitions import ChannelDefinition, IntegrationDefinition
from patchwire._packages import Integration
from patchwire.integrations.chat._api import ChatApi
from patchwire.integrations.chat._config import ChatConfiguration
from patchwire.integrations.chat._host import ContextRepository
from patchwire.messages import PAYLOAD_MODELS

__all__ = ["CHANNEL", "build_chat_integration"]

CHANNEL = "channel"
"""The channel name; agents list it as ``"<alias>.channel"``."""

PageHandler = Callable[[Request], Response]
_METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]


def build_chat_integration(
    name: str, *, title: str, description: str, page: PageHandler | None = None
) -> Integration:
    """An integration serving the Chat API under its webhook URL, and ``page`` at its root."""
    definition = IntegrationDefinition(
        name=name,
        version="0.1.0",
        title=title,
        description=description,
        configuration=ChatConfiguration,
        channels={
            CHANNEL: ChannelDefinition(
                messages=dict(PAYLOAD_MODELS),
                title="Conversation",
                description="Messages between the agent and a Chat API user.",
            )
        },
    )
    integration = Integration(definition)
    instances: weakref.WeakKeyDictionary[Any, tuple[ChatApi, ContextRepository]] = (
        weakref.WeakKeyDictionary()
    )

    def instance(ctx: Any) -> tuple[ChatApi, ContextRepository]:
        found = instances.get(ctx)
        if found is None:
            config = ChatConfiguration.model_validate(ctx.configuration)
            repository = ContextRepository(ctx, CHANNEL)
            found = instances[ctx] = (ChatApi(repository, config), repository)
        return found

    @integration.routes
    def routes(ctx: Any) -> list[BaseRoute]:
        async def endpoint(request: Request) -> Response:
            path = request.path_params.get("path", "")
            if page is not None and request.method == "GET" and not path.strip("/"):
                return page(request)
            api, _ = instance(ctx)
            return await api.handle(request, path)

        return [Route("/{path:path}", endpoint, methods=_METHODS)]

    async def deliver(ctx: Any, message: Any) -> None:
        api, repository = instance(ctx)
        chat_message, joined = await repository.outgoing(message)
        if joined is not None:
            api.publish_participant(chat_message.conversation_id, joined, added=True)
        api.publish_message(chat_message)

    async def deliver_event(ctx: Any, event: Any) -> None:
        api, repository = instance(ctx)
        api.publish_event(await repository.outgoing_event(event))

    integration.sender(CHANNEL)(deliver)
    integration.event_sender(CHANNEL)(deliver_event)
    return integration
