"""The web chat's two faces: the full page at the base URL and ``embed.js`` for other sites.

Both run ``webchat.js`` with the page options of the integration's configuration; the page
inlines it (its content security policy allows inline scripts only), the embed script is
loaded by a ``<script src>`` tag on a page of an allowed origin and calls the API from there.
"""

from __future__ import annotations

import html
import json
from importlib.resources import files
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from patchwire.integrations.chat import BOT_USER_ID
from patchwire.integrations.webchat._config import WebchatConfiguration
from patchwire.server import html_page

__all__ = ["EMBED_PATH", "page_routes"]

EMBED_PATH = "/embed.js"


def page_routes(config: Any) -> list[BaseRoute]:
    """``GET /`` (the page) and ``GET /embed.js`` (the launcher for other sites)."""
    assert isinstance(config, WebchatConfiguration)
    options = _options(config)

    async def page(request: Request) -> Response:
        return html_page(
            __package__ or __name__,
            "page.html",
            fill={
                "<!-- title -->": html.escape(config.bot_name),
                "/* webchat */": f"{_script()}\npatchwireWebchat({options}, null);",
            },
        )

    async def embed(request: Request) -> Response:
        call = f"patchwireWebchat({options}, document.currentScript);"
        return Response(
            f"(function () {{\n{_script()}\n{call}\n}})();\n",
            media_type="text/javascript",
            headers={"cache-control": "no-cache", "x-content-type-options": "nosniff"},
        )

    return [Route("/", page, methods=["GET"]), Route(EMBED_PATH, embed, methods=["GET"])]


def _script() -> str:
    """Read per request, like the page, so edits show up under ``dev`` reload."""
    return files(__package__ or __name__).joinpath("webchat.js").read_text(encoding="utf-8")


def _options(config: WebchatConfiguration) -> str:
    """The page options as a JS literal that is safe inside a ``<script>`` element."""
    options = {
        "botName": config.bot_name,
        "botAvatarUrl": config.bot_avatar_url,
        "welcomeText": config.welcome_text,
        "accentColor": config.accent_color,
        "botUserId": BOT_USER_ID,
        "allowedOrigins": config.allowed_origins,
    }
    return json.dumps(options).replace("<", "\\u003c").replace("\u2028", "\\u2028")
