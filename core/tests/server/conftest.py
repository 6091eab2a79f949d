"""Agent folders served for real: uvicorn in this process, or ``patchwire serve`` processes."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import pytest

from patchwire.server import create_app
from patchwire.testing.loopback import LoopbackServer

AGENT_PY = """
from datetime import timedelta
from patchwire import Conversation, EventContext, MessageContext


async def handler(ctx: MessageContext) -> None:
    if ctx.text.startswith("later "):
        seconds = float(ctx.text.split()[1])
        await ctx.schedule_event("reminder", {"text": "fired"}, after=seconds,
                                 conversation_id=ctx.conversation.id)
        await ctx.reply("scheduled")
        return
    await ctx.reply(f"echo {ctx.text}")


async def on_event(ctx: EventContext) -> None:
    await ctx.send_message(conversation_id=ctx.conversation.id, type="text",
                           payload={"text": ctx.event.payload["text"]})


conversation = Conversation(channel=["chat.channel"], handler=handler, on_event=on_event)
"""


@pytest.fixture
def agent_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "agent"
    folder.mkdir()
    (folder / "agent.toml").write_text('name = "served"\n[integrations]\nchat = "chat@latest"\n')
    (folder / "agent.py").write_text(AGENT_PY)
    return folder


@asynccontextmanager
async def running(folder: Path, database_url: str | None = None) -> AsyncIterator[str]:
    """Serve ``folder`` with uvicorn on a free loopback port; yields the base URL."""
    async with LoopbackServer(create_app(folder, database_url=database_url)) as server:
        yield server.url


def start_process(
    folder: Path, port: int, database_url: str | None = None, options: Sequence[str] = ()
) -> subprocess.Popen[bytes]:
    command = [sys.executable, "-m", "patchwire.cli", "serve", str(folder), "--port", str(port)]
    if database_url:
        command += ["--database-url", database_url]
    command += options
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return process
        except httpx.HTTPError:
            time.sleep(0.2)
    process.kill()
    raise RuntimeError(
        f"server did not start: {process.stderr.read().decode() if process.stderr else ''}"
    )


@pytest.fixture
def processes() -> Iterator[Callable[..., subprocess.Popen[bytes]]]:
    started: list[subprocess.Popen[bytes]] = []

    def start(folder: Path, port: int, database_url: str | None = None) -> subprocess.Popen[bytes]:
        process = start_process(folder, port, database_url)
        started.append(process)
        return process

    yield start
    for process in started:
        if process.poll() is None:
            process.kill()
        process.wait()
