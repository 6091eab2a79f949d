"""``GET /`` of a running agent: a small page listing what it serves, not a bare 404."""

from __future__ import annotations

import re
from pathlib import Path

import httpx

from .conftest import AGENT_PY, running

AGENT_TOML = """
name = "front-desk"

[integrations]
chat = "chat@latest"
webchat = "webchat@latest"

[integrations.hitl]
version = "generic-hitl@latest"
config = { endpointBaseUrl = "http://127.0.0.1:9", signingSecret = "index-page-secret" }
"""

ROW = re.compile(r"<tr><td>(.*?)</td><td>(.*?)</td></tr>")
LINK = re.compile(r'<a href="([^"]+)"><code>([^<]+)</code></a>')


def _agent(tmp_path: Path) -> Path:
    (tmp_path / "agent.toml").write_text(AGENT_TOML)
    (tmp_path / "agent.py").write_text(AGENT_PY)
    return tmp_path


async def test_the_root_lists_health_and_each_alias_webhooks_and_pages(tmp_path: Path) -> None:
    async with running(_agent(tmp_path)) as base, httpx.AsyncClient(base_url=base) as client:
        index = await client.get("/")
        assert index.status_code == 200
        assert index.headers["content-type"].startswith("text/html")
        assert "<title>front-desk · patchwire</title>" in index.text
        rows = ROW.findall(index.text)
        assert rows == [
            (
                '<a href="/healthz"><code>/healthz</code></a>',
                "health: answers while the process runs",
            ),
            (
                '<a href="/readyz"><code>/readyz</code></a>',
                "readiness: answers 503 while the database is unreachable",
            ),
            ('<a href="/metrics"><code>/metrics</code></a>', "Prometheus metrics"),
            ("<code>/webhooks/chat</code>", "chat (chat 0.1.0): its webhooks and API"),
            ('<a href="/webchat"><code>/webchat</code></a>', "webchat (webchat 0.1.0): its page"),
            ("<code>/webhooks/webchat</code>", "webchat (webchat 0.1.0): its webhooks and API"),
            (
                "<code>/webhooks/hitl</code>",
                "hitl (generic-hitl 0.1.0): its webhooks and API",
            ),
        ]
        links = [LINK.fullmatch(cell) for cell, _ in rows]
        opened = [match[1] for match in links if match is not None]
        assert opened == ["/healthz", "/readyz", "/metrics", "/webchat"]
        for path in opened:
            page = await client.get(path, follow_redirects=True)
            assert page.status_code == 200, (path, page.text)
        # Every listed webhook base is an alias's: its own 404, not the one for unknown aliases.
        bases = [cell[6:-7] for cell, _ in rows if cell.startswith("<code>/webhooks/")]
        assert len(bases) == 3
        for path in [*bases, "/webhooks/nobody"]:
            answered = await client.post(f"{path}/no-such-route", json={})
            assert answered.status_code == 404
            unknown = "no integration with routes is configured" in answered.text
            assert unknown == (path == "/webhooks/nobody"), (path, answered.text)


async def test_an_agent_without_routes_still_lists_health(tmp_path: Path) -> None:
    (tmp_path / "agent.toml").write_text('name = "quiet"\n')
    (tmp_path / "agent.py").write_text('"""An agent with no channel yet."""\n')
    async with running(tmp_path) as base, httpx.AsyncClient(base_url=base) as client:
        index = await client.get("/")
        assert index.status_code == 200
        assert [cell for cell, _ in ROW.findall(index.text)] == [
            '<a href="/healthz"><code>/healthz</code></a>',
            '<a href="/readyz"><code>/readyz</code></a>',
            '<a href="/metrics"><code>/metrics</code></a>',
        ]
