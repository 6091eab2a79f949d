"""The ``webchat`` integration: a web page at its base URL that talks to its own Chat API."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from patchwire.integrations.chat import build_chat_integration
from patchwire.server import html_page

__all__ = ["integration"]


def _page(request: Request) -> Response:
    return html_page(__name__, "page.html")


integration = build_chat_integration(
    "webchat",
    title="Web chat",
    description="A chat page served by the agent, for people to talk to it from a browser.",
    page=_page,
)
