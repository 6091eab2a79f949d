"""The agent's root page: what it serves, so the first URL ``dev`` prints is not a 404."""

from __future__ import annotations

import html
from collections.abc import Sequence

from starlette.responses import HTMLResponse

from patchwire.runtime import Runtime
from patchwire.server._mounts import AliasMount
from patchwire.server._pages import html_page

__all__ = ["index_page"]


def index_page(runtime: Runtime, mounts: Sequence[AliasMount]) -> HTMLResponse:
    """Health, readiness and metrics, and per integration alias its webhook base and its page."""
    rows = [
        _row("/healthz", "health: answers while the process runs", link=True),
        _row("/readyz", "readiness: answers 503 while the database is unreachable", link=True),
        _row("/metrics", "Prometheus metrics", link=True),
    ]
    for mount in mounts:
        alias = mount.path.rsplit("/", 1)[-1]  # mounted at /webhooks/<alias>
        definition = runtime.agent.integrations[alias].definition
        package = f"{definition.name} {definition.version}"
        if mount.serves_page:
            rows.append(_row(f"/{alias}", f"{alias} ({package}): its page", link=True))
        rows.append(_row(f"/webhooks/{alias}", f"{alias} ({package}): its webhooks and API"))
    return html_page(
        __package__ or __name__,
        "index.html",
        fill={
            "<!-- title -->": html.escape(runtime.agent.name),
            "<!-- endpoints -->": "\n".join(rows),
        },
    )


def _row(path: str, what: str, *, link: bool = False) -> str:
    """A table row; only pages a browser can open are links (webhooks take POSTs)."""
    code = f"<code>{html.escape(path)}</code>"
    if link:
        code = f'<a href="{html.escape(path)}">{code}</a>'
    return f"<tr><td>{code}</td><td>{html.escape(what)}</td></tr>"
