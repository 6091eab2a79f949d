"""A small in-test integration and plugin, and a running agent on a real store."""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from sqlalchemy.dialects.postgresql.asyncpg import AsyncAdapt_asyncpg_cursor
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from patchwire import (
    ActionDefinition,
    Catalog,
    ChannelDefinition,
    Integration,
    IntegrationDefinition,
    Plugin,
    PluginDefinition,
    WireModel,
    define_config,
    resolve,
)
from patchwire.messages import PAYLOAD_MODELS
from patchwire.runtime import AgentCode, Conversation, Runtime
from patchwire.store import Message, Store
from patchwire.store._sqlite import InlineCursor


@contextlib.contextmanager
def counting_statements() -> Iterator[list[str]]:
    """The SQL of every statement handed to a database driver's cursor meanwhile, on either
    backend: what SQLAlchemy's ``Connection.execute`` runs and what the store's prepared
    statements run alike (``BEGIN`` and ``COMMIT`` go to the drivers directly, uncounted)."""
    statements: list[str] = []
    cursors: tuple[type[Any], ...] = (InlineCursor, AsyncAdapt_asyncpg_cursor)
    originals = [(cursor, cursor.execute, cursor.executemany) for cursor in cursors]
    for cursor, execute, executemany in originals:

        def counted(
            self: Any, operation: str, parameters: Any = None, _execute: Any = execute
        ) -> Any:
            statements.append(operation)
            return _execute(self, operation, parameters)

        def counted_many(
            self: Any, operation: str, parameters: Any, _executemany: Any = executemany
        ) -> Any:
            statements.append(operation)
            return _executemany(self, operation, parameters)

        cursor.execute = counted  # type: ignore[method-assign]
        cursor.executemany = counted_many  # type: ignore[method-assign]
    try:
        yield statements
    finally:
        for cursor, execute, executemany in originals:
            cursor.execute = execute  # type: ignore[method-assign]
            cursor.executemany = executemany  # type: ignore[method-assign]


class EchoInput(WireModel):
    text: str


class EchoOutput(WireModel):
    echoed: str


@dataclass
class Recorder:
    """What the test integration sent and what hooks saw."""

    sent: list[Message] = field(default_factory=list)
    seen: list[str] = field(default_factory=list)
    down: bool = False
    """While set, the sender fails as an unreachable outside system does."""
    attempts: list[str] = field(default_factory=list)
    """The id of every message the sender was asked to deliver, failed tries included."""
    echoes: int = 0
    """How many times the ``echo`` action really ran."""


def make_integration(recorder: Recorder) -> Integration:
    integration = Integration(
        IntegrationDefinition(
            name="testchat",
            version="1.0.0",
            channels={"channel": ChannelDefinition(messages=dict(PAYLOAD_MODELS))},
            actions={"echo": ActionDefinition(input=EchoInput, output=EchoOutput)},
        )
    )

    async def deliver(ctx: Any, message: Message) -> None:
        recorder.attempts.append(message.id)
        if message.payload.get("text") == "explode":
            raise ValueError("the outside system refused it")
        if recorder.down:
            raise httpx.ConnectError("connection refused")
        recorder.sent.append(message)

    for message_type in PAYLOAD_MODELS:
        integration.sender("channel", message_type)(deliver)

    @integration.action("echo")
    async def echo(ctx: Any, input: EchoInput) -> dict[str, str]:
        recorder.echoes += 1
        return {"echoed": f"{ctx.alias}:{input.text}"}

    @integration.routes
    def routes(ctx: Any) -> list[BaseRoute]:
        async def receive(request: Request) -> Response:
            body = json.loads(await request.body())
            if body.get("crash"):
                raise RuntimeError("secret internals")
            user = await ctx.get_or_create_user(tags={"id": body["user"]})
            conversation = await ctx.get_or_create_conversation(
                channel="channel", tags={"id": body["conversation"]}
            )
            message = await ctx.receive_message(
                conversation_id=conversation.id,
                user_id=user.id,
                type="text",
                payload={"text": body["text"]},
                dedupe_key=body.get("id"),
            )
            return JSONResponse({"stored": message is not None})

        return [Route("/", receive, methods=["POST"])]

    return integration


def make_plugin(recorder: Recorder, name: str = "watcher") -> Plugin:
    plugin = Plugin(PluginDefinition(name=name, version="1.0.0"))

    @plugin.hook
    async def before_incoming_message(ctx: Any, message: Message) -> Any:
        recorder.seen.append(f"{ctx.alias}:before:{message.payload.get('text')}")
        from patchwire.runtime import STOP

        return STOP if message.payload.get("text") == "/stop" else None

    @plugin.hook
    async def after_incoming_message(ctx: Any, message: Message) -> None:
        recorder.seen.append(f"{ctx.alias}:after:{message.payload.get('text')}")

    @plugin.hook
    async def before_incoming_event(ctx: Any, event: Any) -> None:
        recorder.seen.append(f"{ctx.alias}:event:{event.type}")

    @plugin.hook
    async def after_outgoing_message(ctx: Any, message: Message) -> None:
        recorder.seen.append(f"{ctx.alias}:{message.status}:{message.payload.get('text')}")

    return plugin


Handler = Callable[[Any], Awaitable[Any]]


@dataclass
class Agent:
    runtime: Runtime
    recorder: Recorder

    async def receive(self, text: str, *, conversation: str = "c1", user: str = "u1") -> Message:
        ctx = self.runtime.context("chat")
        found_user = await ctx.get_or_create_user(tags={"id": user})
        found = await ctx.get_or_create_conversation(channel="channel", tags={"id": conversation})
        message = await ctx.receive_message(
            conversation_id=found.id, user_id=found_user.id, type="text", payload={"text": text}
        )
        assert message is not None
        return message


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
async def start_agent(
    database_url: str, recorder: Recorder
) -> AsyncIterator[Callable[..., Awaitable[Agent]]]:
    """Start an agent with the test integration as ``chat`` and the watcher plugin."""
    opened: list[tuple[Runtime, Store]] = []

    async def start(
        handler: Handler,
        *,
        plugins: tuple[str, ...] = ("first", "second"),
        runtime: dict[str, Any] | None = None,
        model: str | dict[str, Any] | None = None,
    ) -> Agent:
        catalog = Catalog.from_objects(
            integrations=[make_integration(recorder)], plugins=[make_plugin(recorder)]
        )
        config = define_config(
            name="test-agent",
            integrations={"chat": "testchat@latest"},
            plugins={alias: {"version": "watcher@latest"} for alias in plugins},
            runtime=runtime,
            model=model,
        )
        store = await Store.open(database_url)
        running = await Runtime.start(
            resolve(config, catalog),
            store=store,
            code=AgentCode(
                path=None, conversations=(Conversation(channel="chat.channel", handler=handler),)
            ),
        )
        opened.append((running, store))
        return Agent(running, recorder)

    yield start
    for runtime, store in opened:
        await runtime.stop()
        await store.close()
