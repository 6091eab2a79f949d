"""Back with the bot: the model never takes the human agent's words for its own."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from patchwire import ModelConfig
from patchwire.runtime import MessageContext
from patchwire.testing.hitl import HitlHarness
from patchwire.testing.loopback import LoopbackServer
from patchwire.testing.memory import MemoryHelpdesk

Start = Callable[..., Awaitable[HitlHarness]]


class FakeModel:
    """An OpenAI-compatible endpoint that keeps every request's messages."""

    def __init__(self) -> None:
        self.requests: list[list[dict[str, str]]] = []

    async def complete(self, request: Request) -> JSONResponse:
        self.requests.append((await request.json())["messages"])
        return JSONResponse({"choices": [{"message": {"content": "model answer"}}]})

    def app(self) -> Starlette:
        return Starlette(routes=[Route("/v1/chat/completions", self.complete, methods=["POST"])])


@pytest.fixture
async def model() -> AsyncIterator[tuple[FakeModel, str]]:
    fake = FakeModel()
    async with LoopbackServer(fake.app()) as server:
        yield fake, server.url


async def with_model(harness: HitlHarness, url: str) -> HitlHarness:
    async def handler(ctx: MessageContext) -> None:
        if ctx.text == "/starthitl":
            await ctx.plugins.hitl.actions.start_hitl(
                title="Help", conversation_id=ctx.conversation.id, user_id=ctx.message.user_id
            )
            return
        await ctx.execute(instructions="Be helpful.")

    harness.runtime.code.conversations[0].handler = handler
    harness.runtime.model = ModelConfig(
        provider="openai-compatible", base_url=f"{url}/v1", model="test-model"
    )
    return harness


async def session_with_alice(harness: HitlHarness, helpdesk: MemoryHelpdesk) -> None:
    await harness.say("my parcel is lost")
    await harness.say("/starthitl")
    [remote] = await helpdesk.opened()
    await helpdesk.assign(remote, "Alice")
    await harness.settle()
    await harness.say("where is it?")
    await helpdesk.reply(remote, "text", {"text": "It left the depot today."}, message_id="a1")
    await harness.settle()
    await harness.say("/end")
    await harness.say("thanks, and my refund?")


def turns(messages: list[dict[str, str]], needle: str) -> list[dict[str, str]]:
    return [m for m in messages if needle in m["content"]]


async def test_human_agent_turns_are_labelled_not_the_models_own(
    harness_with: Start, helpdesk: MemoryHelpdesk, model: tuple[FakeModel, str]
) -> None:
    fake, url = model
    harness = await with_model(await harness_with(), url)
    await session_with_alice(harness, helpdesk)
    last = fake.requests[-1]
    assert last[-1] == {"role": "user", "content": "thanks, and my refund?"}
    [agent_turn] = turns(last, "It left the depot today.")
    assert agent_turn["role"] == "system"
    assert agent_turn["content"] == (
        "The human agent Alice (not you) wrote to the user: It left the depot today."
    )
    assert not any(m["role"] == "assistant" and "depot" in m["content"] for m in last)
    assert turns(last, "where is it?") == [{"role": "user", "content": "where is it?"}]
    assert turns(last, "model answer")[0]["role"] == "assistant"


async def test_human_agent_turns_can_be_left_out(
    harness_with: Start, helpdesk: MemoryHelpdesk, model: tuple[FakeModel, str]
) -> None:
    fake, url = model
    harness = await with_model(await harness_with(modelSeesHumanAgentTurns=False), url)
    await session_with_alice(harness, helpdesk)
    last: list[dict[str, Any]] = fake.requests[-1]
    assert turns(last, "depot") == []
    assert turns(last, "where is it?") == [{"role": "user", "content": "where is it?"}]
