"""A chat agent for tests: the real ``chat`` and ``webchat`` integrations on the real runtime.

``ChatAgent`` runs a runtime (SQLite store in the test's folder, the background loop) whose
agent code answers every message with ``echo: <text>`` unless ``replying`` is switched off, and
serves the integrations' routes as the server mounts them. Tests reach the host side through
the runtime's own contexts: nothing here stands in for the runtime.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from starlette.applications import Starlette

from patchwire import Catalog, Context, define_config, resolve
from patchwire.integrations.chat import integration as chat_integration
from patchwire.integrations.webchat import integration as webchat_integration
from patchwire.runtime import AgentCode, Conversation, MessageContext, Runtime
from patchwire.server import webhook_mounts
from patchwire.store import Message, Store
from patchwire.testing.loopback import LoopbackServer

ENCRYPTION_KEY = "test-encryption-key-0123456789abcdef"
CHAT_CONFIG = {"encryptionKey": ENCRYPTION_KEY, "pageSize": 3, "keepaliveSeconds": 0.2}


class ChatAgent:
    """A running agent with ``chat`` and ``webchat``; ``app`` serves their routes."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.replying = True
        self.app = Starlette(routes=webhook_mounts(runtime))

    def context(self, alias: str = "chat") -> Context:
        return self.runtime.context(alias, "integration")

    async def echo(self, ctx: MessageContext) -> None:
        if self.replying:
            await ctx.reply(f"echo: {ctx.text or ctx.message.type}")

    async def send(
        self,
        conversation_id: str,
        payload: Mapping[str, Any],
        *,
        type: str = "text",
        user_id: str | None = None,
    ) -> Message | None:
        """The agent's outgoing path, as a plugin would take it (to any channel's conversation)."""
        return await self.context().send_message(
            conversation_id=conversation_id, type=type, payload=payload, user_id=user_id
        )

    async def count(self, table: str, *, integration: str = "chat") -> int:
        """Rows of ``users``, ``conversations`` (of one integration) or ``messages``."""
        query = {
            "users": "SELECT count(*) FROM users WHERE integration = :integration",
            "conversations": "SELECT count(*) FROM conversations WHERE integration = :integration",
            "messages": "SELECT count(*) FROM messages",
        }[table]
        async with self.runtime.store.engine.connect() as session:
            found = await session.execute(text(query), {"integration": integration})
            return int(found.scalar_one())

    async def only_conversation(self, integration: str) -> str:
        """The store id of the one conversation of ``integration``."""
        async with self.runtime.store.engine.connect() as session:
            rows = await session.execute(
                text("SELECT id FROM conversations WHERE integration = :integration"),
                {"integration": integration},
            )
            (conversation_id,) = [row[0] for row in rows]
            return str(conversation_id)


StartAgent = Callable[..., Awaitable[ChatAgent]]


@pytest.fixture
async def start_agent(tmp_path: Path) -> AsyncIterator[StartAgent]:
    """Start agents with the given ``chat`` configuration (``webchat`` gets the defaults)."""
    started: list[tuple[ChatAgent, asyncio.Event, asyncio.Task[None], Store]] = []

    async def start(**chat_config: Any) -> ChatAgent:
        catalog = Catalog.from_objects(integrations=[chat_integration, webchat_integration])
        config = define_config(
            name="chat-test-agent",
            integrations={
                "chat": {"version": "chat@latest", "config": chat_config},
                "webchat": "webchat@latest",
            },
        )
        store = await Store.open(f"sqlite:///{tmp_path / f'agent-{len(started)}.db'}")
        agent: ChatAgent | None = None

        async def echo(ctx: MessageContext) -> None:
            assert agent is not None
            await agent.echo(ctx)

        code = AgentCode(
            None, (Conversation(channel=["chat.channel", "webchat.channel"], handler=echo),)
        )
        runtime = await Runtime.start(resolve(config, catalog), store=store, code=code)
        agent = ChatAgent(runtime)
        stop = asyncio.Event()
        started.append((agent, stop, asyncio.create_task(runtime.run_background(stop)), store))
        return agent

    yield start
    for agent, stop, background, store in started:
        stop.set()
        await background
        await agent.runtime.stop()
        await store.close()


@pytest.fixture
def encryption_key() -> str:
    return ENCRYPTION_KEY


@pytest.fixture
async def agent(start_agent: StartAgent) -> ChatAgent:
    return await start_agent(**CHAT_CONFIG)


@pytest.fixture
async def client(agent: ChatAgent) -> AsyncIterator[httpx.AsyncClient]:
    """The chat API in process, with the echoing agent silenced."""
    agent.replying = False
    transport = httpx.ASGITransport(app=agent.app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test/webhooks/chat") as http:
        yield http


@pytest.fixture
async def agent_server(agent: ChatAgent) -> AsyncIterator[LoopbackServer]:
    async with LoopbackServer(agent.app) as server:
        yield server


@pytest.fixture
def served(agent_server: LoopbackServer) -> str:
    """The running agent's base URL."""
    return agent_server.url
