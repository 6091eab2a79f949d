"""Serving a package's HTML page with headers that keep it fresh and confined to its origin."""

from __future__ import annotations

from collections.abc import Mapping
from importlib.resources import files

from starlette.responses import HTMLResponse

__all__ = ["html_page"]


def html_page(package: str, resource: str, fill: Mapping[str, str] | None = None) -> HTMLResponse:
    """The page as an HTML response; read once per call so edits show up under ``dev`` reload.

    ``fill`` replaces placeholders of the file (``{"<!-- options -->": ...}``) with text the
    caller has made safe for where it goes.
    """
    text = files(package).joinpath(resource).read_text(encoding="utf-8")
    for placeholder, value in (fill or {}).items():
        text = text.replace(placeholder, value)
    return HTMLResponse(
        text,
        headers={
            "cache-control": "no-cache",
            "content-security-policy": (
                "default-src 'self'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; "
                "img-src * data: blob:; media-src * data: blob:; connect-src 'self'"
            ),
        },
    )
