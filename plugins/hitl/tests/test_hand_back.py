"""Back with the bot: the model never takes the human agent's words for its own."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from patchwire.runtime import MessageContext
from patchwire.testing.chat_completions import FakeChatCompletions
from patchwire.testing.hitl import HitlHarness
from patchwire.testing.memory import MemoryHelpdesk

Start = Callable[..., Awaitable[HitlHarness]]


@pytest.fixture
async def model() -> AsyncIterator[FakeChatCompletions]:
    async with FakeChatCompletions().serve() as fake:
        yield fake


async def with_model(harness_with: Start, fake: FakeChatCompletions, **config: Any) -> HitlHarness:
    """A harness whose [model] (the shorthand form) is the fake, answering with ctx.execute."""
    harness = await harness_with(
        model={"model": "openai-compatible:test-model", "base_url": fake.url}, **config
    )

    async def handler(ctx: MessageContext) -> None:
        if ctx.text == "/starthitl":
            await ctx.plugins.hitl.actions.start_hitl(
                title="Help", conversation_id=ctx.conversation.id, user_id=ctx.message.user_id
            )
            return
        await ctx.execute(instructions="Be helpful.")

    harness.runtime.code.conversations[0].handler = handler
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


def turns(messages: list[Any], needle: str) -> list[dict[str, str]]:
    return [m for m in messages if needle in m["content"]]


async def test_human_agent_turns_are_labelled_not_the_models_own(
    harness_with: Start, helpdesk: MemoryHelpdesk, model: FakeChatCompletions
) -> None:
    harness = await with_model(harness_with, model)
    await session_with_alice(harness, helpdesk)
    last = model.requests[-1].messages
    assert last[-1] == {"role": "user", "content": "thanks, and my refund?"}
    [agent_turn] = turns(last, "It left the depot today.")
    assert agent_turn["role"] == "system"
    assert agent_turn["content"] == (
        "The human agent Alice (not you) wrote to the user: It left the depot today."
    )
    assert not any(m["role"] == "assistant" and "depot" in m["content"] for m in last)
    assert turns(last, "where is it?") == [{"role": "user", "content": "where is it?"}]
    assert turns(last, "model answer")[0]["role"] == "assistant"
    assert len(model.requests) == 2, "the model is not asked while a human has the chat"
    assert (await harness.user_sees())[-1] == "model answer"


async def test_human_agent_turns_can_be_left_out(
    harness_with: Start, helpdesk: MemoryHelpdesk, model: FakeChatCompletions
) -> None:
    harness = await with_model(harness_with, model, modelSeesHumanAgentTurns=False)
    await session_with_alice(harness, helpdesk)
    last = model.requests[-1].messages
    assert turns(last, "depot") == []
    assert turns(last, "where is it?") == [{"role": "user", "content": "where is it?"}]
