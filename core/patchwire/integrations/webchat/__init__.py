"""The ``webchat`` integration: the Chat API, a chat page at its base URL, and ``embed.js``.

``<script src="https://AGENT/webhooks/webchat/embed.js" async></script>`` on a page of an origin
listed in ``allowedOrigins`` adds a chat button that opens the same chat in a panel.
"""

from __future__ import annotations

from patchwire.integrations.chat import build_chat_integration
from patchwire.integrations.webchat._config import WebchatConfiguration
from patchwire.integrations.webchat._pages import EMBED_PATH, page_routes

__all__ = ["EMBED_PATH", "WebchatConfiguration", "integration"]

integration = build_chat_integration(
    "webchat",
    title="Web chat",
    description="A chat page served by the agent, and a chat button other sites can embed.",
    configuration=WebchatConfiguration,
    pages=page_routes,
)
