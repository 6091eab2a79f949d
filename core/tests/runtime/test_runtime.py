from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from patchwire import ActionInputError, ActionNotFoundError
from patchwire.runtime import DeliveryError, MessageContext, MessageError
from patchwire.server import webhook_mounts
from patchwire.store import Store

from .conftest import Agent, Recorder

Start = Callable[..., Awaitable[Agent]]


async def test_hooks_run_in_config_order_around_the_handler(start_agent: Start) -> None:
    order: list[str] = []

    async def handler(ctx: MessageContext) -> None:
        order.append(f"agent:{ctx.text}")
        await ctx.reply(f"re: {ctx.text}")

    agent = await start_agent(handler)
    await agent.receive("hello")
    await agent.runtime.process_pending()
    assert agent.recorder.seen == [
        "first:before:hello",
        "second:before:hello",
        "first:sent:re: hello",
        "second:sent:re: hello",
        "first:after:hello",
        "second:after:hello",
    ]
    assert order == ["agent:hello"]
    assert [m.payload["text"] for m in agent.recorder.sent] == ["re: hello"]
    assert agent.recorder.sent[0].status == "sending"


async def test_a_before_hook_stops_the_message(start_agent: Start) -> None:
    handled: list[str] = []

    async def handler(ctx: MessageContext) -> None:
        handled.append(ctx.text)

    agent = await start_agent(handler)
    await agent.receive("/stop")
    await agent.runtime.process_pending()
    assert handled == []
    assert agent.recorder.seen == ["first:before:/stop"]


async def test_messages_of_one_conversation_are_handled_in_order(start_agent: Start) -> None:
    handled: dict[str, list[str]] = {}
    running: set[str] = set()

    async def handler(ctx: MessageContext) -> None:
        conversation = ctx.conversation.id
        assert conversation not in running, "two messages of one conversation at once"
        running.add(conversation)
        await asyncio.sleep(0.001)
        handled.setdefault(conversation, []).append(ctx.text)
        running.discard(conversation)

    agent = await start_agent(handler, plugins=())
    await asyncio.gather(
        *(agent.receive(f"{c}-{n}", conversation=c) for c in ("a", "b", "c") for n in range(8))
    )
    await agent.runtime.process_pending()
    assert len(handled) == 3
    for conversation, texts in handled.items():
        stored = await agent.runtime.context("chat").list_messages(
            conversation, limit=100, newest_first=False
        )
        assert texts == [m.payload["text"] for m in stored.messages]
        assert sorted(texts) == sorted(f"{texts[0][0]}-{n}" for n in range(8))


async def test_bad_payloads_are_refused_before_anything_is_stored(start_agent: Start) -> None:
    agent = await start_agent(lambda ctx: asyncio.sleep(0), plugins=())
    ctx = agent.runtime.context("chat")
    conversation = await ctx.create_conversation(channel="channel")
    with pytest.raises(MessageError, match="does not take 'sticker' messages"):
        await ctx.receive_message(
            conversation_id=conversation.id, user_id=None, type="sticker", payload={}
        )
    with pytest.raises(MessageError, match="bad 'image' message payload: imageUrl"):
        await ctx.receive_message(
            conversation_id=conversation.id, user_id=None, type="image", payload={"url": "x"}
        )
    assert (await ctx.list_messages(conversation.id)).messages == []


async def test_a_failed_delivery_is_recorded_and_reported(start_agent: Start) -> None:
    agent = await start_agent(lambda ctx: asyncio.sleep(0), plugins=())
    ctx = agent.runtime.context("chat")
    conversation = await ctx.create_conversation(channel="channel")
    with pytest.raises(DeliveryError, match="the outside system refused it"):
        await ctx.send_message(
            conversation_id=conversation.id, type="text", payload={"text": "explode"}
        )
    page = await ctx.list_messages(conversation.id)
    assert [m.status for m in page.messages] == ["failed"]


async def test_receiving_twice_with_one_key_stores_one_message(start_agent: Start) -> None:
    agent = await start_agent(lambda ctx: asyncio.sleep(0), plugins=())
    ctx = agent.runtime.context("chat")
    conversation = await ctx.create_conversation(channel="channel")
    for _ in range(3):
        await ctx.receive_message(
            conversation_id=conversation.id,
            user_id=None,
            type="text",
            payload={"text": "x"},
            dedupe_key="provider-1",
        )
    assert len((await ctx.list_messages(conversation.id)).messages) == 1


async def test_states_are_namespaced_per_plugin_alias(start_agent: Start) -> None:
    agent = await start_agent(lambda ctx: asyncio.sleep(0))
    await agent.runtime.context("first").set_state("conversation", "c", "session", {"n": 1})
    await agent.runtime.context("second").set_state("conversation", "c", "session", {"n": 2})
    assert await agent.runtime.context("first").get_state("conversation", "c", "session") == {
        "n": 1
    }
    assert await agent.runtime.context("second").get_state("conversation", "c", "session") == {
        "n": 2
    }


async def test_action_proxies_validate_and_name_what_is_wrong(start_agent: Start) -> None:
    agent = await start_agent(lambda ctx: asyncio.sleep(0), plugins=())
    output = await agent.runtime.integrations.chat.actions.echo(text="hi")
    assert output.model_dump() == {"echoed": "chat:hi"}
    with pytest.raises(
        ActionInputError, match=r"bad input for action chat\.echo: text: Field required"
    ):
        await agent.runtime.integrations.chat.actions.echo(txt="hi")
    with pytest.raises(ActionNotFoundError, match="did you mean 'echo'"):
        agent.runtime.integrations.chat.actions.ecko  # noqa: B018
    with pytest.raises(ActionNotFoundError, match="did you mean 'chat'"):
        agent.runtime.integrations.chatt  # noqa: B018


async def test_scheduled_events_reach_hooks_and_agent_once(start_agent: Start) -> None:
    from patchwire.runtime import Conversation, EventContext

    seen: list[Any] = []
    agent = await start_agent(lambda ctx: asyncio.sleep(0), plugins=())

    async def on_event(ctx: EventContext) -> None:
        seen.append((ctx.event.type, dict(ctx.event.payload)))

    agent.runtime.code.conversations[0].on_event = on_event
    ctx = agent.runtime.context("chat")
    conversation = await ctx.create_conversation(channel="channel")
    scheduled = await ctx.schedule_event(
        "timeout", {"n": 1}, after=0, conversation_id=conversation.id
    )
    cancelled = await ctx.schedule_event("never", {}, after=0, conversation_id=conversation.id)
    assert await ctx.cancel_event(cancelled.id)
    await agent.runtime.process_pending()
    await agent.runtime.process_pending()
    assert seen == [("chat.timeout", {"n": 1})]
    assert scheduled.type == "chat.timeout"
    assert isinstance(Conversation, type)


async def test_two_runtimes_on_one_database_share_the_work_in_order(
    database_url: str, start_agent: Start, recorder: Recorder
) -> None:
    handled: list[str] = []

    async def handler(ctx: MessageContext) -> None:
        await asyncio.sleep(0.002)
        handled.append(ctx.text)

    one = await start_agent(handler, plugins=())
    two = await start_agent(handler, plugins=())
    for n in range(10):
        await one.receive(str(n))
    await asyncio.gather(one.runtime.process_pending(), two.runtime.process_pending())
    assert handled == [str(n) for n in range(10)]
    assert isinstance(one.runtime.store, Store)


async def test_routes_get_the_raw_body_and_errors_hide_internals(
    start_agent: Start, caplog: pytest.LogCaptureFixture
) -> None:
    agent = await start_agent(lambda ctx: asyncio.sleep(0), plugins=())
    app = Starlette(routes=webhook_mounts(agent.runtime))
    raw = b'{"user": "u", "conversation": "c", "text": "hi", "id": "m1"}'
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://agent") as http:
        first = await http.post("/webhooks/chat", content=raw)
        again = await http.post("/webhooks/chat/", content=raw)
        assert (first.json(), again.json()) == ({"stored": True}, {"stored": False})
        with caplog.at_level(logging.ERROR, logger="patchwire.server"):
            crashed = await http.post("/webhooks/chat", content=b'{"crash": true}')
    assert crashed.status_code == 500
    assert "secret internals" not in crashed.text and "incident" in crashed.json()
    assert "secret internals" in caplog.text and crashed.json()["incident"] in caplog.text


async def test_an_integration_and_a_plugin_may_share_an_alias(start_agent: Start) -> None:
    agent = await start_agent(lambda ctx: asyncio.sleep(0), plugins=("chat",))
    integration = agent.runtime.context("chat", "integration")
    plugin = agent.runtime.context("chat", "plugin")
    assert (integration.kind, plugin.kind) == ("integration", "plugin")
    with pytest.raises(LookupError, match="names an integration and a plugin"):
        agent.runtime.context("chat")
    await integration.set_state("conversation", "c", "session", {"by": "integration"})
    await plugin.set_state("conversation", "c", "session", {"by": "plugin"})
    assert await integration.get_state("conversation", "c", "session") == {"by": "integration"}
    assert await integration.remember("k") and await plugin.remember("k")
    sent = await integration.create_conversation(channel="channel")
    await plugin.send_message(
        conversation_id=sent.id, type="text", payload={"text": "to the integration's sender"}
    )
    await agent.runtime.process_pending()
    assert [m.payload["text"] for m in agent.recorder.sent] == ["to the integration's sender"]


async def test_what_a_package_keeps_per_alias_is_made_once_and_closed_at_stop(
    start_agent: Start,
) -> None:
    agent = await start_agent(lambda ctx: asyncio.sleep(0), plugins=())
    closed: list[str] = []

    class Client:
        def __init__(self, ctx: Any) -> None:
            self.alias = ctx.alias

        async def close(self) -> None:
            closed.append(self.alias)

    ctx = agent.runtime.context("chat")
    assert ctx.local(Client) is ctx.local(Client)
    await agent.runtime.stop()
    assert closed == ["chat"]


async def test_keys_remembered_for_a_while_are_forgotten_after_it(start_agent: Start) -> None:
    agent = await start_agent(lambda ctx: asyncio.sleep(0), plugins=())
    ctx = agent.runtime.context("chat")
    window = timedelta(seconds=1)
    assert await ctx.remember("sig-1", forget_after=window)
    assert not await ctx.remember("sig-1", forget_after=window)
    assert await ctx.remember("sig-1"), "keys kept for good live apart from windowed ones"
    await asyncio.sleep(1.2)
    assert await ctx.remember("sig-1", forget_after=window), "forgotten once the window passed"
    assert not await ctx.remember("sig-1"), "the key kept for good is still there"
