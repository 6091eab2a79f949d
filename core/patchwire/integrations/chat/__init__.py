"""The ``chat`` integration: the public Chat API (``@botpress/chat`` compatible) for an agent.

Point any client of that API at ``http://HOST:PORT/webhooks/<alias>``; messages it creates
reach the agent on channel ``<alias>.channel``, and the agent's replies reach its listeners.
"""

from __future__ import annotations

from patchwire.integrations.chat._api import ChatApi
from patchwire.integrations.chat._config import ChatConfiguration
from patchwire.integrations.chat._host import (
    BOT_USER_ID,
    ContextRepository,
    HostApi,
    chat_id_tag,
)
from patchwire.integrations.chat._integration import CHANNEL, build_chat_integration
from patchwire.integrations.chat._repository import ChatRepository

__all__ = [
    "BOT_USER_ID",
    "CHANNEL",
    "ChatApi",
    "ChatConfiguration",
    "ChatRepository",
    "ContextRepository",
    "HostApi",
    "build_chat_integration",
    "chat_id_tag",
    "integration",
]

integration = build_chat_integration(
    "chat",
    title="Chat API",
    description="The public Chat API, so every client written for it talks to this agent.",
    configuration=ChatConfiguration,
)
