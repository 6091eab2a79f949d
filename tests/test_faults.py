"""Fault injection against real processes: `patchwire serve` killed with SIGKILL and started
again, a helpdesk that answers 500, refuses connections, or stores and then fails.

The agent is a real server process (the HITL plugin, generic-hitl, the chat API); the helpdesk
is a generic-hitl service on loopback in the test process that verifies signatures, records
every call with its ``Idempotency-Key`` and drops repeats by it, as the protocol asks. Each test
counts what arrived: nothing lost, nothing twice, order kept.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from patchwire.server import free_port
from patchwire.testing.databases import postgres_database
from patchwire.testing.loopback import LoopbackServer
from patchwire_generic_hitl import HEADER, verify

pytestmark = pytest.mark.slow

SECRET = "fault-injection-secret"
HANDOFF = "Connecting you with a human..."
TIMEOUT_TEXT = "Nobody is free right now; back to the bot."
FAILED_TEXT = "Sorry, I could not reach a human right now."

AGENT_PY = """\
from patchwire import Conversation, MessageContext, plugins


async def handler(ctx: MessageContext) -> None:
    if ctx.text == "/starthitl":
        await plugins.hitl.actions.start_hitl(
            title="Help", conversation_id=ctx.conversation.id, user_id=ctx.message.user_id
        )
        return
    await ctx.reply(f"bot: {ctx.text}")


conversation = Conversation(channel=["chat.channel"], handler=handler)
"""


def agent_toml(helpdesk_url: str, *, timeout_seconds: int) -> str:
    return f"""\
name = "fault-agent"

[runtime]
maxRetrySeconds = 3

[integrations.chat]
version = "chat@latest"

[integrations.hitl]
version = "generic-hitl@latest"
config = {{ endpointBaseUrl = "{helpdesk_url}", signingSecret = "{SECRET}" }}

[plugins.hitl]
version = "hitl@latest"
dependencies.hitl = {{ integrationAlias = "hitl" }}

[plugins.hitl.config]
onHitlHandoffMessage = "{HANDOFF}"
onAgentAssignedTimeoutMessage = "{TIMEOUT_TEXT}"
onHitlStartFailedMessage = "{FAILED_TEXT}"
agentAssignedTimeoutSeconds = {timeout_seconds}
"""


# --- the helpdesk ---------------------------------------------------------------------------


@dataclass
class Call:
    path: str
    key: str | None
    body: dict[str, Any]


@dataclass
class Helpdesk:
    """A generic-hitl service whose failures the test switches on and off."""

    mode: str = "ok"
    """``ok``; ``500`` (answers 500, stores nothing); ``store-then-500`` (stores, answers 500
    to the first two deliveries of each key)."""
    calls: list[Call] = field(default_factory=list)
    conversations: dict[str, list[str]] = field(default_factory=dict)
    answers: dict[str, Any] = field(default_factory=dict)
    hold: asyncio.Event | None = None
    """While set to an unset event, /botSendsMessage stores the message and waits on it."""
    arrived: asyncio.Event = field(default_factory=asyncio.Event)

    async def endpoint(self, request: Request) -> Response:
        raw = await request.body()
        verify(SECRET, request.headers.get(HEADER), raw)
        key = request.headers.get("idempotency-key")
        body = json.loads(raw)
        self.calls.append(Call(request.url.path, key, body))
        self.arrived.set()
        if self.mode == "500":
            return JSONResponse({"error": "failing"}, status_code=500)
        if key is not None and key in self.answers:
            answer = self.answers[key]
        else:
            answer = self._act(request.url.path, body)
            if key is not None:
                self.answers[key] = answer
        if self.mode == "store-then-500" and [c.key for c in self.calls].count(key) <= 2:
            return JSONResponse({"error": "stored, then failed"}, status_code=500)
        if self.hold is not None and request.url.path == "/botSendsMessage":
            await self.hold.wait()
        return JSONResponse(answer)

    def _act(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        if path == "/createRemoteUser":
            return {"id": f"ru-{len(self.calls)}"}
        if path == "/createRemoteConversation":
            remote = f"rc-{len(self.conversations) + 1}"
            self.conversations[remote] = []
            return {"id": remote}
        if path == "/botSendsMessage":
            self.conversations[body["remoteConversationId"]].append(body["payload"]["text"])
        return {}

    def received(self) -> list[str]:
        [messages] = self.conversations.values()
        return messages

    def app(self) -> Starlette:
        return Starlette(routes=[Route("/{path:path}", self.endpoint, methods=["POST"])])


@pytest.fixture
async def helpdesk() -> AsyncIterator[tuple[Helpdesk, LoopbackServer]]:
    desk = Helpdesk()
    async with LoopbackServer(desk.app()) as server:
        yield desk, server


# --- the agent process and its user ---------------------------------------------------------


class Agent:
    """`patchwire serve` in a child process, killable with SIGKILL and started again."""

    def __init__(self, folder: Path, database_url: str, options: Sequence[str] = ()) -> None:
        self.folder = folder
        self.database_url = database_url
        self.options = list(options)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen[bytes] | None = None
        self.log = folder / "serve.log"

    async def start(self) -> float:
        """Start and return the moment /healthz first answered."""
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        command = [sys.executable, "-m", "patchwire.cli", "serve", str(self.folder)]
        command += ["--port", str(self.port), "--database-url", self.database_url]
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                command + self.options,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
                start_new_session=True,  # its own process group, as a terminal would give it
            )
        deadline = time.monotonic() + 60
        async with httpx.AsyncClient() as client:
            while True:
                assert self.process.poll() is None, self.log.read_text()[-3000:]
                try:
                    if (await client.get(f"{self.url}/healthz")).status_code == 200:
                        return time.monotonic()
                except httpx.TransportError:
                    pass
                assert time.monotonic() < deadline, "the server did not come up"
                await asyncio.sleep(0.05)

    def kill(self) -> None:
        assert self.process is not None
        os.killpg(self.process.pid, signal.SIGKILL)  # its worker processes too
        self.process.wait()

    def interrupt(self) -> None:
        """Ctrl-C in its terminal: SIGINT to every process of its group."""
        assert self.process is not None
        os.killpg(self.process.pid, signal.SIGINT)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()


class User:
    """A chat API user of the agent."""

    def __init__(self, agent: Agent) -> None:
        self.api = httpx.AsyncClient(base_url=f"{agent.url}/webhooks/chat", timeout=30)
        self.key = ""
        self.conversation = ""

    async def join(self) -> None:
        created = (await self.api.post("/users", json={})).json()
        self.key = created["key"]
        self.api.headers["x-user-key"] = self.key
        response = await self.api.post("/conversations", json={})
        self.conversation = response.json()["conversation"]["id"]

    async def say(self, text: str) -> None:
        response = await self.api.post(
            "/messages",
            json={"conversationId": self.conversation, "payload": {"type": "text", "text": text}},
        )
        assert response.status_code == 200, response.text

    async def seen(self) -> list[tuple[str, datetime]]:
        """The bot's messages, oldest first, with when they were stored."""
        found: list[dict[str, Any]] = []
        token: str | None = None
        while True:
            params = {"nextToken": token} if token else {}
            page = (
                await self.api.get(f"/conversations/{self.conversation}/messages", params=params)
            ).json()
            found += page["messages"]
            token = page.get("meta", {}).get("nextToken")
            if not token:
                break
        bot = [m for m in reversed(found) if m["userId"] != (await self._me())]
        return [
            (m["payload"].get("text", ""), datetime.fromisoformat(m["createdAt"])) for m in bot
        ]

    async def _me(self) -> str:
        return str((await self.api.get("/users/me")).json()["user"]["id"])

    async def close(self) -> None:
        await self.api.aclose()


@pytest.fixture
async def make_agent(
    tmp_path: Path,
) -> AsyncIterator[Callable[..., Awaitable[tuple[Agent, User]]]]:
    agents: list[Agent] = []
    users: list[User] = []

    async def make(
        helpdesk_url: str, database_url: str, timeout: int, options: Sequence[str] = ()
    ) -> tuple[Agent, User]:
        folder = tmp_path / f"agent{len(agents)}"
        folder.mkdir()
        (folder / "agent.toml").write_text(agent_toml(helpdesk_url, timeout_seconds=timeout))
        (folder / "agent.py").write_text(AGENT_PY)
        agent = Agent(folder, database_url, options)
        agents.append(agent)
        await agent.start()
        user = User(agent)
        users.append(user)
        await user.join()
        return agent, user

    yield make
    for user in users:
        await user.close()
    for agent in agents:
        agent.stop()


async def until(check: Callable[[], bool | Awaitable[bool]], seconds: float, what: str) -> float:
    """Wait for ``check()`` (plain or async); the moment it held."""
    deadline = time.monotonic() + seconds
    while True:
        result = check()
        if result if isinstance(result, bool) else await result:
            return time.monotonic()
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.1)


# --- the tests ------------------------------------------------------------------------------


async def test_a_killed_server_resumes_within_seconds_and_its_timer_fires_once(
    helpdesk: tuple[Helpdesk, LoopbackServer], make_agent: Any, database_url: str
) -> None:
    desk, server = helpdesk
    agent, user = await make_agent(server.url, database_url, 15)
    await user.say("/starthitl")
    await until(lambda: bool(desk.conversations), 20, "the helpdesk conversation")
    started = datetime.now(UTC)
    desk.hold = asyncio.Event()
    desk.arrived.clear()
    await user.say("m1")
    await asyncio.wait_for(desk.arrived.wait(), 20)
    assert desk.received() == ["m1"]
    # m2 is stored behind m1's running job: neither claimed nor announced, the chain's to take
    await user.say("m2")
    agent.kill()  # mid-delivery: the helpdesk stored m1, the agent never heard back
    desk.hold.set()
    desk.hold = None
    healthy = await agent.start()
    resumed = await until(lambda: _relayed(desk) >= 2, 20, "m1 delivered again")
    assert resumed - healthy < 10, f"work resumed {resumed - healthy:.1f} s after /healthz"
    await until(lambda: desk.received() == ["m1", "m2"], 20, "m2, queued behind m1, relayed")
    await user.say("m3")
    await until(lambda: desk.received() == ["m1", "m2", "m3"], 20, "m3 relayed")
    keys = [c.key for c in desk.calls if c.path == "/botSendsMessage"]
    assert keys[0] == keys[1], "the redelivery carried the first delivery's Idempotency-Key"
    assert len(keys) == 4 and len(set(keys)) == 3, "m2 and m3 sent once, each with its own key"

    restarted = datetime.now(UTC)
    await until(
        lambda: _texts(user, TIMEOUT_TEXT, at_least=1), 30, "the assignment timeout message"
    )
    await asyncio.sleep(2)
    seen = await user.seen()
    timeouts = [at for text, at in seen if text == TIMEOUT_TEXT]
    assert len(timeouts) == 1, "the timer fired exactly once"
    due = started.timestamp() + 15
    assert timeouts[0].timestamp() <= max(due, restarted.timestamp()) + 5
    assert [text for text, _ in seen].count(HANDOFF) == 1


def _relayed(desk: Helpdesk) -> int:
    return sum(c.path == "/botSendsMessage" for c in desk.calls)


async def _texts(user: User, text: str, *, at_least: int) -> bool:
    return [t for t, _ in await user.seen()].count(text) >= at_least


@pytest.mark.parametrize("failure", ["500", "refused"])
async def test_fifty_messages_through_a_minute_long_outage_arrive_once_in_order(
    helpdesk: tuple[Helpdesk, LoopbackServer], make_agent: Any, tmp_path: Path, failure: str
) -> None:
    desk, server = helpdesk
    _agent, user = await make_agent(server.url, f"sqlite:///{tmp_path / 'agent.db'}", 0)
    await user.say("/starthitl")
    await until(lambda: bool(desk.conversations), 20, "the helpdesk conversation")
    outage_started = time.monotonic()
    if failure == "500":
        desk.mode = "500"
    else:
        await server.stop()
    for n in range(50):
        await user.say(f"message {n}")
    await asyncio.sleep(max(0.0, 60 - (time.monotonic() - outage_started)))
    if failure == "500":
        desk.mode = "ok"
    else:
        await server.start()
    await until(lambda: len(desk.received()) >= 50, 90, "the backlog delivered")
    await asyncio.sleep(1)
    assert desk.received() == [f"message {n}" for n in range(50)]
    by_key: dict[str | None, set[str]] = {}
    for call in desk.calls:
        if call.path == "/botSendsMessage":
            by_key.setdefault(call.key, set()).add(call.body["payload"]["text"])
    assert None not in by_key, "every relayed message carries an Idempotency-Key"
    assert len(by_key) == 50 and all(len(texts) == 1 for texts in by_key.values())
    if failure == "500":
        retried = [c.key for c in desk.calls if c.path == "/botSendsMessage"]
        assert retried.count(retried[0]) > 1, "the first message was tried more than once"


async def test_a_helpdesk_that_stores_then_fails_gets_no_duplicates(
    helpdesk: tuple[Helpdesk, LoopbackServer], make_agent: Any, tmp_path: Path
) -> None:
    desk, server = helpdesk
    _agent, user = await make_agent(server.url, f"sqlite:///{tmp_path / 'agent.db'}", 0)
    await user.say("/starthitl")
    await until(lambda: bool(desk.conversations), 20, "the helpdesk conversation")
    desk.mode = "store-then-500"
    for n in range(20):
        await user.say(f"message {n}")
    await until(lambda: len(desk.received()) >= 20, 90, "every message stored")
    await asyncio.sleep(2)
    assert desk.received() == [f"message {n}" for n in range(20)]
    relayed = [c for c in desk.calls if c.path == "/botSendsMessage"]
    assert len(relayed) > 20, "the failures made the agent deliver again"


async def test_a_failed_start_says_so_once_and_the_bot_answers_after(
    helpdesk: tuple[Helpdesk, LoopbackServer], make_agent: Any, tmp_path: Path
) -> None:
    desk, server = helpdesk
    _agent, user = await make_agent(server.url, f"sqlite:///{tmp_path / 'agent.db'}", 0)
    await server.stop()
    await user.say("/starthitl")
    await until(lambda: _texts(user, FAILED_TEXT, at_least=1), 60, "the start-failed text")
    await server.start()
    await asyncio.sleep(5)  # a blind retry would have started the handoff by now
    await user.say("hello")
    await until(lambda: _texts(user, "bot: hello", at_least=1), 20, "the bot's answer")
    texts = [text for text, _ in await user.seen()]
    assert texts.count(HANDOFF) == 1 and texts.count(FAILED_TEXT) == 1
    assert desk.conversations == {}, "no remote conversation was created"
    assert not any("went wrong" in text for text in texts), "no generic error on top"


@pytest.mark.postgres
async def test_two_servers_on_one_postgresql_behave_as_one(
    helpdesk: tuple[Helpdesk, LoopbackServer], make_agent: Any, tmp_path: Path
) -> None:
    """A chat listener on server A receives the bot's reply to a message posted on server B."""
    _, server = helpdesk
    async with postgres_database() as url:
        first, user = await make_agent(server.url, url, 0)
        second = Agent(first.folder, url)
        try:
            await second.start()
            on_second = _chat_client(second.url, user)
            listener = await replies_cross(user.api, on_second, user)
            listener.cancel()
            await on_second.aclose()
        finally:
            second.stop()


async def test_serve_with_two_workers_behaves_as_two_servers_and_stops_cleanly(
    helpdesk: tuple[Helpdesk, LoopbackServer], make_agent: Any
) -> None:
    """`serve --workers 2`: the same check with the listener on one worker and the message
    posted on the other; then Ctrl-C with that stream open stops both, exit 0, within 5 s."""
    _, server = helpdesk
    async with postgres_database() as url:
        agent, user = await make_agent(server.url, url, 0, ["--workers", "2"])
        by_worker = await _one_connection_per_worker(agent.url, user, workers=2)
        (_, listening), (posting_worker, posting) = by_worker.items()
        listener = await replies_cross(listening, posting, user)
        assert await _worker(posting) == posting_worker, "the connection kept its worker"
        for client in by_worker.values():  # either worker counts for both
            counted = await _counters(client)
            assert counted["patchwire_messages_received_total"] == 1
            assert counted["patchwire_messages_sent_total"] == 1

        agent.interrupt()
        assert agent.process is not None
        stopping = time.monotonic()
        await until(lambda: agent.process.poll() is not None, 5, "serve to exit")
        await until(listener.done, 1, "the open stream to be ended by the server")
        assert time.monotonic() - stopping < 5
        assert agent.process.returncode == 0, agent.log.read_text()[-3000:]
        assert listener.exception() is None, "the stream ended, it was not cut"
        log = agent.log.read_text()
        assert "Traceback" not in log and "ERROR" not in log, log[-3000:]
        for client in by_worker.values():
            await client.aclose()


async def test_a_dead_worker_stops_serve_for_its_process_manager(
    helpdesk: tuple[Helpdesk, LoopbackServer], make_agent: Any
) -> None:
    """`serve --workers 2` with one worker killed: the other stops too and `serve` exits 1."""
    _, server = helpdesk
    async with postgres_database() as url:
        agent, _ = await make_agent(server.url, url, 0, ["--workers", "2"])
        assert agent.process is not None
        children = Path(f"/proc/{agent.process.pid}/task/{agent.process.pid}/children")
        workers = [  # not multiprocessing's resource tracker, also a child
            pid
            for pid in map(int, children.read_text().split())
            if b"spawn_main" in Path(f"/proc/{pid}/cmdline").read_bytes()
        ]
        assert len(workers) == 2, workers
        os.kill(workers[0], signal.SIGKILL)
        await until(lambda: agent.process.poll() is not None, 5, "serve to exit")
        assert agent.process.returncode == 1
        assert not Path(f"/proc/{workers[1]}").exists(), "the other worker was stopped and reaped"


def _chat_client(base_url: str, user: User) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        base_url=f"{base_url}/webhooks/chat", headers={"x-user-key": user.key}, timeout=30
    )


async def _worker(client: httpx.AsyncClient) -> str:
    """The worker id of the process at the other end of ``client``'s (kept-alive) connection."""
    health = await client.get(str(client.base_url.join("/healthz")))
    return str(health.json()["worker"])


async def _counters(client: httpx.AsyncClient) -> dict[str, float]:
    """The chat integration's counters as ``/metrics`` shows them through ``client``."""
    scraped = await client.get(str(client.base_url.join("/metrics")))
    return {
        sample.name: sample.value
        for family in text_string_to_metric_families(scraped.text)
        for sample in family.samples
        if sample.labels == {"integration": "chat"}
    }


async def _one_connection_per_worker(
    base_url: str, user: User, *, workers: int
) -> dict[str, httpx.AsyncClient]:
    """A client per worker, each holding one connection that worker accepted."""
    found: dict[str, httpx.AsyncClient] = {}
    for _ in range(50):
        client = _chat_client(base_url, user)
        worker = await _worker(client)
        if worker in found:
            await client.aclose()
        else:
            found[worker] = client
        if len(found) == workers:
            return found
    raise AssertionError(f"connections reached only {len(found)} of {workers} workers")


async def replies_cross(
    listening: httpx.AsyncClient, posting: httpx.AsyncClient, user: User
) -> asyncio.Task[None]:
    """A listener on ``listening``'s server gets, within 2 s, the bot's reply to a message
    posted on ``posting``'s, each signal once; returns the listener, still listening."""
    received: list[dict[str, Any]] = []
    connected = asyncio.Event()

    async def listen() -> None:
        path = f"/conversations/{user.conversation}/listen"
        async with listening.stream("GET", path) as stream:
            connected.set()
            async for line in stream.aiter_lines():
                if line.startswith("data: {"):
                    received.append(json.loads(line[6:]))

    listener = asyncio.create_task(listen())
    await asyncio.wait_for(connected.wait(), 10)
    posted = time.monotonic()
    response = await posting.post(
        "/messages",
        json={
            "conversationId": user.conversation,
            "payload": {"type": "text", "text": "across servers"},
        },
    )
    assert response.status_code == 200, response.text

    def replied() -> bool:
        return any(
            signal["data"].get("payload", {}).get("text") == "bot: across servers"
            for signal in received
        )

    arrived = await until(replied, 10, "the reply on the other server's listener")
    assert arrived - posted < 2, f"the reply took {arrived - posted:.2f} s"
    created = [s for s in received if s["type"] == "message_created"]
    assert [s["data"]["payload"]["text"] for s in created] == [
        "across servers",
        "bot: across servers",
    ], "each signal once"
    return listener
