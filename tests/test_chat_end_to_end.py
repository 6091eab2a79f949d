"""The official ``@botpress/chat`` client against a real agent: runtime, store, server."""

from __future__ import annotations

import asyncio
import json
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from playwright.async_api import Browser

from patchwire.server import create_app
from patchwire.testing.loopback import LoopbackServer
from tests.node import JS, Node

pytestmark = pytest.mark.slow

ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"

AGENT_TOML = """\
name = "echo-agent"

[integrations.chat]
version = "chat@latest"
config = { encryptionKey = "end-to-end-encryption-key-0123456789" }

[integrations.webchat]
version = "webchat@latest"
"""

AGENT_PY = """\
from patchwire import Conversation, MessageContext


async def handler(ctx: MessageContext) -> None:
    await ctx.reply(f"echo: {ctx.text}")


conversation = Conversation(channel=["chat.channel", "webchat.channel"], handler=handler)
"""


@pytest.fixture
async def agent(tmp_path: Path) -> AsyncIterator[str]:
    (tmp_path / "agent.toml").write_text(AGENT_TOML)
    (tmp_path / "agent.py").write_text(AGENT_PY)
    async with LoopbackServer(create_app(tmp_path)) as server:
        yield server.url


async def test_the_official_client_talks_to_a_real_agent(node: Node, agent: str) -> None:
    process = await asyncio.create_subprocess_exec(
        node.node,
        "chat-roundtrip.mjs",
        f"{agent}/webhooks/chat",
        "hello from node",
        cwd=JS,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    stdout, stderr = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode == 0, stderr.decode()
    result = json.loads(stdout)
    assert result["received"]["payload"] == {"type": "text", "text": "echo: hello from node"}
    assert result["received"]["isBot"] is True
    assert [m["id"] for m in result["listed"]] == [result["received"]["id"], result["sent"]["id"]]
    assert result["notFound"]["name"] == "ResourceNotFoundError"
    assert result["unauthorized"]["name"] == "UnauthorizedError"


@pytest.mark.browser
async def test_the_webchat_page_talks_to_a_real_agent(agent: str, chromium: Browser) -> None:
    page = await chromium.new_page(viewport={"width": 390, "height": 740})
    await page.goto(f"{agent}/webchat")
    await page.wait_for_selector("#status:has-text('online')", timeout=10_000)
    await page.fill("#input", "hello runtime")
    await page.press("#input", "Enter")
    await page.wait_for_selector(".row.theirs:has-text('echo: hello runtime')", timeout=10_000)
    ARTIFACTS.mkdir(exist_ok=True)
    await page.screenshot(path=str(ARTIFACTS / "webchat-real-agent.png"))
    await page.close()
