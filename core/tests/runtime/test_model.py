"""``ctx.execute`` through the OpenAI SDK against a local Chat Completions server.

Every test runs a real agent on a real store whose ``[model]`` points at
``FakeChatCompletions`` over loopback HTTP; what is checked is what the server was sent, what
the user received, and what the operator sees of a failure.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from starlette.responses import JSONResponse, Response

from patchwire._config import DEFAULT_ERROR_TEXT
from patchwire.runtime import MessageContext
from patchwire.server import free_port
from patchwire.testing.chat_completions import FakeChatCompletions

from .conftest import Agent

Start = Callable[..., Awaitable[Agent]]
INSTRUCTIONS = "You are the parcel service's assistant."
KEY = "sk-test-0123456789abcdef"


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    """SQLite only: what is tested here is the model client, not the store."""
    return f"sqlite:///{tmp_path / 'agent.db'}"


@pytest.fixture
async def fake() -> AsyncIterator[FakeChatCompletions]:
    async with FakeChatCompletions(models={"support"}, api_key=KEY).serve() as server:
        yield server


async def execute(ctx: MessageContext) -> None:
    await ctx.execute(instructions=INSTRUCTIONS)


def model_table(fake: FakeChatCompletions, **overrides: Any) -> dict[str, Any]:
    return {
        "provider": "openai-compatible",
        "base_url": fake.url,
        "model": "support",
        "api_key": KEY,
        **overrides,
    }


async def turn(agent: Agent, text: str) -> None:
    await agent.receive(text)
    await agent.runtime.process_pending()


def sent(agent: Agent) -> list[str]:
    return [m.payload["text"] for m in agent.recorder.sent]


async def failure(agent: Agent) -> str:
    """The last error of the one failed job (what ``patchwire jobs`` shows)."""
    [(_, error)] = await agent.runtime.store.failed_jobs()
    return error.strip().splitlines()[-1]


async def test_the_model_gets_the_instructions_and_the_transcript(
    start_agent: Start, fake: FakeChatCompletions
) -> None:
    agent = await start_agent(execute, model=model_table(fake))
    await turn(agent, "hello")
    fake.answer = "It left the depot today."
    await turn(agent, "where is my parcel?")
    assert sent(agent) == ["model answer", "It left the depot today."]
    assert [r.model for r in fake.requests] == ["support", "support"]
    assert fake.requests[-1].messages == [
        {"role": "system", "content": INSTRUCTIONS},
        {"role": "user", "content": "hello"},
        {"role": "assistant", "content": "model answer"},
        {"role": "user", "content": "where is my parcel?"},
    ]
    assert fake.attempts == 2
    assert len({r.peer for r in fake.requests}) == 1, "one client, its connection reused"


async def test_the_shorthand_reaches_the_server_with_the_model_name_as_is(
    start_agent: Start, fake: FakeChatCompletions
) -> None:
    fake.models = {"llama3.2:3b"}
    agent = await start_agent(
        execute,
        model={"model": "openai-compatible:llama3.2:3b", "base_url": fake.url, "api_key": KEY},
    )
    await turn(agent, "hi")
    assert [r.model for r in fake.requests] == ["llama3.2:3b"]
    assert sent(agent) == ["model answer"]


async def test_429_and_500_are_retried_by_the_sdk_then_answered(
    start_agent: Start, fake: FakeChatCompletions
) -> None:
    agent = await start_agent(execute, model=model_table(fake))
    fake.fail_next(429, 500)
    await turn(agent, "hello")
    assert fake.attempts == 3
    assert len(fake.requests) == 1
    assert sent(agent) == ["model answer"]
    assert await agent.runtime.store.failed_jobs() == []


def rate_limited(fake: FakeChatCompletions) -> None:
    fake.fail_next(429, 429)


@pytest.mark.parametrize(
    ("trouble", "table", "attempts", "error"),
    [
        (
            rate_limited,
            {"max_retries": 1},
            2,
            "is still rate limiting after 1 retry (429: scripted failure 429): check the "
            "account's quota, or raise [model] max_retries",
        ),
        (
            FakeChatCompletions.stall,
            {"timeout_seconds": 0.2, "max_retries": 1},
            2,
            "did not answer within timeout_seconds = 0.2 (after 1 retry): check that it runs, "
            "or raise [model] timeout_seconds",
        ),
        (
            None,
            {"model": "gpt-5"},
            1,
            "has no model 'gpt-5' or no /chat/completions (404: The model 'gpt-5' does not "
            "exist.): check [model] model, and that base_url is the API root (it often ends "
            "in /v1)",
        ),
    ],
    ids=["rate-limited", "hung", "unknown-model"],
)
async def test_what_still_fails_after_the_retries_tells_the_user_once(
    start_agent: Start,
    fake: FakeChatCompletions,
    trouble: Callable[[FakeChatCompletions], None] | None,
    table: dict[str, Any],
    attempts: int,
    error: str,
) -> None:
    agent = await start_agent(execute, model=model_table(fake, **table))
    if trouble is not None:
        trouble(fake)
    await turn(agent, "hello")
    assert fake.attempts == attempts
    assert sent(agent) == [DEFAULT_ERROR_TEXT]
    assert await failure(agent) == (
        f"patchwire.runtime._responder.ModelError: the model server at {fake.url} {error}"
    )


async def test_the_next_message_after_a_failure_is_answered(
    start_agent: Start, fake: FakeChatCompletions
) -> None:
    agent = await start_agent(execute, model=model_table(fake, max_retries=0))
    fake.fail_next(503)
    await turn(agent, "hello")
    await turn(agent, "are you there?")
    assert sent(agent) == [DEFAULT_ERROR_TEXT, "model answer"]
    assert fake.attempts == 2
    assert await failure(agent) == (
        f"patchwire.runtime._responder.ModelError: the model server at {fake.url} failed with "
        "no retry (503: scripted failure 503): check the server and its logs"
    )


async def test_a_refused_key_is_not_retried_and_never_shown(
    start_agent: Start,
    fake: FakeChatCompletions,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    wrong = "sk-wrong-secret-9876543210"
    monkeypatch.setenv("PATCHWIRE_TEST_MODEL_KEY", wrong)
    caplog.set_level(logging.DEBUG)
    agent = await start_agent(
        execute, model=model_table(fake, api_key="${PATCHWIRE_TEST_MODEL_KEY}")
    )
    await turn(agent, "hello")
    assert fake.attempts == 1
    assert fake.requests == []
    assert sent(agent) == [DEFAULT_ERROR_TEXT]
    error = await failure(agent)
    assert error == (
        f"patchwire.runtime._responder.ModelError: the model server at {fake.url} refused the "
        "API key (401: Incorrect API key provided.): check [model] api_key and the environment "
        "variable it comes from"
    )
    [(_, traceback)] = await agent.runtime.store.failed_jobs()
    shown = [traceback, caplog.text, repr(agent.runtime.agent), repr(agent.runtime.responder.model)]
    assert not [text for text in shown if wrong in text]


async def test_nothing_listening_is_a_connection_error(start_agent: Start) -> None:
    url = f"http://127.0.0.1:{free_port()}/v1"
    agent = await start_agent(
        execute,
        model={"provider": "openai-compatible", "base_url": url, "model": "m", "max_retries": 0},
    )
    await turn(agent, "hello")
    assert sent(agent) == [DEFAULT_ERROR_TEXT]
    error = await failure(agent)
    assert error.startswith(
        f"patchwire.runtime._responder.ModelError: could not reach the model server at {url} "
        "(with no retry): "
    )
    assert error.endswith("check [model] base_url and that the server runs")


@pytest.mark.parametrize(
    ("response", "got"),
    [
        (Response("<html>gateway</html>", media_type="text/html"), "a body that is not JSON"),
        (JSONResponse({"id": "x", "object": "chat.completion", "choices": []}), "no choices"),
        (
            JSONResponse({"choices": [{"index": 0, "message": {"role": "assistant"}}]}),
            "a first choice without text",
        ),
    ],
)
async def test_a_body_that_is_no_completion(
    start_agent: Start, fake: FakeChatCompletions, response: Response, got: str
) -> None:
    agent = await start_agent(execute, model=model_table(fake))
    fake.send_next(response)
    await turn(agent, "hello")
    assert sent(agent) == [DEFAULT_ERROR_TEXT]
    error = await failure(agent)
    assert f"the model server at {fake.url} answered {got}" in error
    assert error.endswith(
        "check that base_url is the root of an OpenAI-compatible API (it often ends in /v1)"
    )


async def test_without_a_model_the_built_in_responder_answers(start_agent: Start) -> None:
    agent = await start_agent(execute)
    await turn(agent, "hello")
    await turn(agent, "my parcel")
    assert sent(agent) == ["Hello! How can I help you today?", "You said: my parcel"]
    assert agent.runtime.responder.model is None
