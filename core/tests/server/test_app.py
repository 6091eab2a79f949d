from __future__ import annotations

import asyncio
import json
import signal
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from subprocess import Popen

import httpx
import pytest

from patchwire.runtime import current_runtime
from patchwire.server import free_port

from .conftest import running, start_process


class ChatClient:
    """Just enough of the Chat API to talk to a served agent."""

    def __init__(self, base: str) -> None:
        self.api = f"{base}/webhooks/chat"
        self.key = ""

    async def start(self, client: httpx.AsyncClient) -> str:
        self.key = (await client.post(f"{self.api}/users", json={})).json()["key"]
        created = await client.post(f"{self.api}/conversations", json={}, headers=self.headers)
        return str(created.json()["conversation"]["id"])

    @property
    def headers(self) -> dict[str, str]:
        return {"x-user-key": self.key}

    async def say(self, client: httpx.AsyncClient, conversation: str, text: str) -> None:
        body = {"conversationId": conversation, "payload": {"type": "text", "text": text}}
        response = await client.post(f"{self.api}/messages", json=body, headers=self.headers)
        assert response.status_code == 200, response.text

    async def bot_texts(self, client: httpx.AsyncClient, conversation: str) -> list[str]:
        listed = await client.get(
            f"{self.api}/conversations/{conversation}/messages", headers=self.headers
        )
        return [
            m["payload"]["text"]
            for m in reversed(listed.json()["messages"])
            if m["userId"] == "bot"
        ]


async def wait_for(check: Callable[[], object], *, timeout: float = 15.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not await check():  # type: ignore[misc]
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.1)


async def test_health_and_readiness(agent_folder: Path) -> None:
    async with running(agent_folder) as base, httpx.AsyncClient() as client:
        health = (await client.get(f"{base}/healthz")).json()
        assert health == {"status": "ok", "worker": current_runtime().worker_id}
        assert (await client.get(f"{base}/readyz")).json() == {"status": "ready"}
        missing = await client.post(f"{base}/webhooks/nope/x", content=b"{}")
        assert missing.status_code == 404
        assert (
            "no integration with routes is configured at /webhooks/nope/x"
            in (missing.json()["error"])
        )


async def test_a_message_reaches_the_agent_and_its_reply_comes_back(agent_folder: Path) -> None:
    async with running(agent_folder) as base, httpx.AsyncClient() as client:
        chat = ChatClient(base)
        conversation = await chat.start(client)
        await chat.say(client, conversation, "hi")

        async def replied() -> bool:
            return await chat.bot_texts(client, conversation) == ["echo hi"]

        await wait_for(replied)


async def test_readiness_fails_when_the_database_is_gone(
    agent_folder: Path, postgres_url: str
) -> None:
    async with running(agent_folder, postgres_url) as base, httpx.AsyncClient() as client:
        assert (await client.get(f"{base}/readyz")).status_code == 200
        import asyncpg

        admin = await asyncpg.connect(postgres_url.rsplit("/", 1)[0] + "/test")
        name = postgres_url.rsplit("/", 1)[1]
        await admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1", name
        )
        await admin.execute(f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS false')
        try:
            response = await client.get(f"{base}/readyz")
            assert response.status_code == 503
            assert response.json()["reason"].startswith("database unreachable")
        finally:
            await admin.execute(f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS true')
            await admin.close()


@pytest.mark.slow
async def test_a_scheduled_event_fires_once_after_a_restart(
    agent_folder: Path, processes: Callable[..., Popen[bytes]]
) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    process = processes(agent_folder, port)
    async with httpx.AsyncClient() as client:
        chat = ChatClient(base)
        conversation = await chat.start(client)
        await chat.say(client, conversation, "later 2")

        async def scheduled() -> bool:
            return "scheduled" in await chat.bot_texts(client, conversation)

        await wait_for(scheduled)
        process.send_signal(signal.SIGKILL)
        process.wait()
        await asyncio.sleep(2.5)
        processes(agent_folder, port)

        async def fired() -> bool:
            return "fired" in await chat.bot_texts(client, conversation)

        await wait_for(fired)
        await asyncio.sleep(1.5)
        assert (await chat.bot_texts(client, conversation)).count("fired") == 1


@pytest.mark.slow
async def test_two_processes_on_postgresql_fire_each_event_once(
    agent_folder: Path, postgres_url: str, processes: Callable[..., Popen[bytes]]
) -> None:
    ports = [free_port(), free_port()]
    for port in ports:
        processes(agent_folder, port, postgres_url)
    async with httpx.AsyncClient() as client:
        chats = [ChatClient(f"http://127.0.0.1:{ports[n % 2]}") for n in range(6)]
        conversations = [await chat.start(client) for chat in chats]
        for chat, conversation in zip(chats, conversations, strict=True):
            for _ in range(3):
                await chat.say(client, conversation, "later 1")

        async def all_fired() -> bool:
            texts = [
                await c.bot_texts(client, v) for c, v in zip(chats, conversations, strict=True)
            ]
            return all(t.count("fired") >= 3 for t in texts)

        await wait_for(all_fired, timeout=30)
        await asyncio.sleep(1.5)
        for chat, conversation in zip(chats, conversations, strict=True):
            texts = await chat.bot_texts(client, conversation)
            assert texts.count("fired") == 3 and texts.count("scheduled") == 3


LOGGING_AGENT = """
import logging
from patchwire import Conversation, MessageContext

log = logging.getLogger("agent")


async def handler(ctx: MessageContext) -> None:
    log.info("asked %s", ctx.text)
    if ctx.text == "boom":
        raise RuntimeError("the handler broke")
    await ctx.reply("fine")


conversation = Conversation(channel=["chat.channel"], handler=handler)
"""


async def test_json_logs_are_one_object_a_line_naming_the_chat_conversation(
    agent_folder: Path,
) -> None:
    (agent_folder / "agent.py").write_text(LOGGING_AGENT)
    port = free_port()
    process = start_process(agent_folder, port, options=["--log-format", "json"])
    chat = ChatClient(f"http://127.0.0.1:{port}")
    try:
        async with httpx.AsyncClient() as client:
            conversation = await chat.start(client)
            await chat.say(client, conversation, "hello")
            await chat.say(client, conversation, "boom")
            await wait_for(lambda: _replied(chat, client, conversation, count=2))
    finally:
        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=15)
    assert process.returncode == 0
    lines = [json.loads(line) for line in err.decode().splitlines()]  # every line is JSON
    assert lines and all({"time", "level", "logger", "message"} <= set(line) for line in lines)
    for line in lines:
        datetime.fromisoformat(line["time"])
    about = [line for line in lines if "conversation_id" in line]
    assert [(line["logger"], line["level"]) for line in about] == [
        ("agent", "INFO"),
        ("agent", "INFO"),
        ("patchwire.runtime", "ERROR"),
    ]
    assert [line["message"] for line in about[:2]] == ["asked hello", "asked boom"]
    assert "failed, not retried: RuntimeError: the handler broke" in about[2]["message"]
    assert {line["conversation_id"] for line in about} == {conversation}
    assert any(line["logger"] == "uvicorn.error" for line in lines), "uvicorn's own lines too"


async def _replied(
    chat: ChatClient, client: httpx.AsyncClient, conversation: str, *, count: int
) -> bool:
    return len(await chat.bot_texts(client, conversation)) >= count
