"""listenConversation over a real loopback server: every signal, keep-alives, reconnecting."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

import httpx
import pytest

from patchwire.integrations.chat import _api as chat_api

from ..conftest import ChatAgent


class Session:
    def __init__(self, http: httpx.AsyncClient, key: str, user_id: str) -> None:
        self.http = http
        self.headers = {"x-user-key": key}
        self.user_id = user_id

    async def call(self, method: str, path: str, body: Any = None) -> Any:
        response = await self.http.request(method, path, json=body, headers=self.headers)
        assert response.status_code == 200, response.text
        return response.json()

    async def say(self, conversation_id: str, text: str) -> dict[str, Any]:
        body = {"conversationId": conversation_id, "payload": {"type": "text", "text": text}}
        message: dict[str, Any] = (await self.call("POST", "/messages", body))["message"]
        return message

    @asynccontextmanager
    async def listen(self, conversation_id: str) -> AsyncIterator[asyncio.Queue[Any]]:
        """A queue of the stream's decoded frames (``"ping"`` for keep-alives, ``"end"`` when
        the server ended the stream)."""
        frames: asyncio.Queue[Any] = asyncio.Queue()
        opened = asyncio.Event()

        async def read() -> None:
            path = f"/conversations/{conversation_id}/listen"
            async with self.http.stream("GET", path, headers=self.headers) as stream:
                assert stream.headers["content-type"].startswith("text/event-stream")
                opened.set()
                async for line in stream.aiter_lines():
                    if line.startswith("data: "):
                        data = line[6:]
                        frames.put_nowait(data if data == "ping" else json.loads(data))
            frames.put_nowait("end")

        task = asyncio.create_task(read())
        await asyncio.wait_for(opened.wait(), 5)
        try:
            yield frames
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)


async def session(http: httpx.AsyncClient, **fields: Any) -> Session:
    created = (await http.post("/users", json=fields)).json()
    return Session(http, created["key"], created["user"]["id"])


async def next_signal(frames: asyncio.Queue[Any]) -> dict[str, Any]:
    """The next frame that is not a keep-alive, within 5 seconds in all (keep-alives come
    faster, so a wait per frame would wait for ever)."""
    async with asyncio.timeout(5):
        while True:
            frame = await frames.get()
            if frame != "ping":
                signal: dict[str, Any] = frame
                return signal


@asynccontextmanager
async def http_client(served: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=f"{served}/webhooks/chat", timeout=10) as http:
        yield http


async def test_messages_and_the_agents_reply_reach_listeners(served: str) -> None:
    async with http_client(served) as http:
        ada = await session(http)
        conversation_id = (await ada.call("POST", "/conversations", {}))["conversation"]["id"]
        async with ada.listen(conversation_id) as frames:
            sent = await ada.say(conversation_id, "hi")
            created = await next_signal(frames)
            assert created == {"type": "message_created", "data": {**sent, "isBot": False}}
            reply = await next_signal(frames)
            assert reply["type"] == "message_created"
            assert reply["data"]["payload"] == {"type": "text", "text": "echo: hi"}
            assert reply["data"]["isBot"] is True
            assert reply["data"]["userId"] == "bot"


async def test_a_stream_opened_right_after_sending_begins_with_the_message_once(
    served: str,
) -> None:
    """The official client's suite sends a message, then opens the stream: the server has
    stored and signalled the message (and maybe the reply) before the stream opens. The
    stream catches up on them, each once."""
    async with http_client(served) as http:
        ada = await session(http)
        conversation_id = (await ada.call("POST", "/conversations", {}))["conversation"]["id"]
        sent = await ada.say(conversation_id, "hi")
        await asyncio.sleep(0.3)  # the reply is stored and signalled too
        async with ada.listen(conversation_id) as frames:
            first, second = await next_signal(frames), await next_signal(frames)
            assert first == {"type": "message_created", "data": {**sent, "isBot": False}}
            assert second["data"]["payload"] == {"type": "text", "text": "echo: hi"}
            later = await ada.say(conversation_id, "again")
            signals = [await next_signal(frames), await next_signal(frames)]
            assert signals[0]["data"]["id"] == later["id"]
            assert signals[1]["data"]["payload"] == {"type": "text", "text": "echo: again"}
            await asyncio.sleep(0.3)
            assert [frame for frame in frames._queue if frame != "ping"] == []  # type: ignore[attr-defined]


async def test_a_stream_does_not_catch_up_on_older_messages(
    served: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(chat_api, "CATCH_UP", timedelta(0))
    async with http_client(served) as http:
        ada = await session(http)
        conversation_id = (await ada.call("POST", "/conversations", {}))["conversation"]["id"]
        await ada.say(conversation_id, "hi")
        await asyncio.sleep(0.3)
        async with ada.listen(conversation_id) as frames:
            later = await ada.say(conversation_id, "again")
            assert (await next_signal(frames))["data"]["id"] == later["id"]


async def test_every_signal_type(served: str) -> None:
    async with http_client(served) as http:
        ada = await session(http)
        grace = await session(http, name="Grace")
        conversation_id = (await ada.call("POST", "/conversations", {}))["conversation"]["id"]
        base = f"/conversations/{conversation_id}/participants"
        async with ada.listen(conversation_id) as frames:
            await ada.call("POST", base, {"userId": grace.user_id})
            assert await next_signal(frames) == {
                "type": "participant_added",
                "data": {"conversationId": conversation_id, "participantId": grace.user_id},
            }
            event = (
                await grace.call(
                    "POST", "/events", {"conversationId": conversation_id, "payload": {"k": 1}}
                )
            )["event"]
            assert await next_signal(frames) == {
                "type": "event_created",
                "data": {**event, "isBot": False},
            }
            message = await grace.say(conversation_id, "bye")
            assert (await next_signal(frames))["type"] == "message_created"
            assert (await next_signal(frames))["data"]["isBot"] is True
            await grace.call("DELETE", f"/messages/{message['id']}")
            assert await next_signal(frames) == {
                "type": "message_deleted",
                "data": {
                    "id": message["id"],
                    "conversationId": conversation_id,
                    "userId": grace.user_id,
                },
            }
            await ada.call("DELETE", f"{base}/{grace.user_id}")
            assert await next_signal(frames) == {
                "type": "participant_removed",
                "data": {"conversationId": conversation_id, "participantId": grace.user_id},
            }


async def next_frame_but_pings(frames: asyncio.Queue[Any]) -> Any:
    """The next frame that is not a keep-alive, within 5 seconds (keep-alives come faster)."""
    async with asyncio.timeout(5):
        frame = "ping"
        while frame == "ping":
            frame = await frames.get()
        return frame


async def test_deleting_a_user_or_a_conversation_ends_their_streams(served: str) -> None:
    """A deleted user hears nothing more anywhere; a deleted conversation's listeners are all
    ended; the others keep listening."""
    async with http_client(served) as http:
        ada = await session(http)
        grace = await session(http)
        first = (await ada.call("POST", "/conversations", {}))["conversation"]["id"]
        second = (await ada.call("POST", "/conversations", {}))["conversation"]["id"]
        for conversation_id in (first, second):
            participants = f"/conversations/{conversation_id}/participants"
            await ada.call("POST", participants, {"userId": grace.user_id})
        async with (
            ada.listen(first) as ada_first,
            ada.listen(second) as ada_second,
            grace.listen(first) as grace_first,
            grace.listen(second) as grace_second,
        ):
            await grace.call("DELETE", "/users/me")
            assert await next_frame_but_pings(grace_first) == "end"
            assert await next_frame_but_pings(grace_second) == "end"
            sent = await ada.say(first, "still here")
            assert (await next_signal(ada_first))["data"]["id"] == sent["id"]
            await ada.call("DELETE", f"/conversations/{second}")
            assert await next_frame_but_pings(ada_second) == "end"
            assert (await next_signal(ada_first))["data"][
                "isBot"
            ] is True  # the echo of "still here"


async def test_a_quiet_stream_sends_keepalives(served: str) -> None:
    async with http_client(served) as http:
        ada = await session(http)
        conversation_id = (await ada.call("POST", "/conversations", {}))["conversation"]["id"]
        async with ada.listen(conversation_id) as frames:
            assert await asyncio.wait_for(frames.get(), 2) == "ping"


async def test_a_listener_that_reconnects_misses_nothing_it_can_list(served: str) -> None:
    async with http_client(served) as http:
        ada = await session(http)
        conversation_id = (await ada.call("POST", "/conversations", {}))["conversation"]["id"]
        async with ada.listen(conversation_id) as frames:
            await ada.say(conversation_id, "one")
            seen = {(await next_signal(frames))["data"]["id"] for _ in range(2)}
        missed = [await ada.say(conversation_id, "while away")]
        await asyncio.sleep(0.1)
        async with ada.listen(conversation_id):
            listed = []
            token = None
            while True:
                query = {"nextToken": token} if token else {}
                page = (
                    await http.get(
                        f"/conversations/{conversation_id}/messages",
                        params=query,
                        headers=ada.headers,
                    )
                ).json()
                listed += [m["id"] for m in page["messages"]]
                token = page["meta"].get("nextToken")
                if not token:
                    break
        assert missed[0]["id"] in listed
        assert len(listed) == 4
        assert seen <= set(listed)


async def test_a_plugin_sending_as_a_human_agent_shows_that_user(
    served: str, agent: ChatAgent
) -> None:
    async with http_client(served) as http:
        ada = await session(http)
        host_agent = await agent.context().create_user(
            name="Sam from support", picture_url="https://x/sam.png"
        )
        conversation_id = (await ada.call("POST", "/conversations", {}))["conversation"]["id"]
        (host_conversation,) = await agent.context().find_conversations(
            {"chat.chatId": conversation_id}
        )
        async with ada.listen(conversation_id) as frames:
            await agent.send(host_conversation.id, {"text": "Hi, Sam here"}, user_id=host_agent.id)
            assert await next_signal(frames) == {
                "type": "participant_added",
                "data": {"conversationId": conversation_id, "participantId": host_agent.id},
            }
            message = (await next_signal(frames))["data"]
            assert message["userId"] == host_agent.id
            assert message["isBot"] is True
        participant = await ada.call(
            "GET", f"/conversations/{conversation_id}/participants/{host_agent.id}"
        )
        assert participant["participant"]["name"] == "Sam from support"
        assert participant["participant"]["pictureUrl"] == "https://x/sam.png"
