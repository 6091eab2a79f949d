"""The agent's public URL: agent.toml's ``public_url`` or ``serve --public-url``, read by
register steps through ``ctx.public_url`` and ``ctx.webhook_url``."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from patchwire import Catalog, check, define_config, resolve
from patchwire.cli import app
from patchwire.server import PUBLIC_URL_ENV, open_agent
from patchwire.testing.channel import MemoryChannel


def catalog() -> Catalog:
    return Catalog.from_objects(integrations=[MemoryChannel().integration])


def test_the_public_url_takes_a_variable_and_loses_its_trailing_slash() -> None:
    config = define_config(name="public", public_url="${PUBLIC_URL}")
    resolved = resolve(config, catalog(), environ={"PUBLIC_URL": "https://bot.example.com/"})
    assert resolved.public_url == "https://bot.example.com"
    unset = define_config(name="public", public_url="${PUBLIC_URL:-}")
    assert resolve(unset, catalog(), environ={}).public_url is None


@pytest.mark.parametrize(
    ("url", "message"),
    [
        (
            "bot.example.com",
            "'bot.example.com' is not an http(s) URL such as https://bot.example.com",
        ),
        (
            "https://bot.example.com/?a=1",
            "'https://bot.example.com/?a=1' has a query or fragment; give the base URL only",
        ),
    ],
)
def test_a_bad_public_url_is_one_problem(url: str, message: str) -> None:
    [problem] = check(define_config(name="public", public_url=url), catalog(), environ={})
    assert (problem.code, problem.location, problem.message) == (
        "bad-public-url",
        "public_url",
        message,
    )


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    (tmp_path / "agent.toml").write_text(
        'name = "public"\npublic_url = "https://from-toml.example.com"\n'
        '[integrations]\nchat = "memory-channel@latest"\n'
    )
    (tmp_path / "agent.py").write_text(
        "from patchwire import Conversation, MessageContext\n\n\n"
        "async def handler(ctx: MessageContext) -> None: ...\n\n\n"
        'conversation = Conversation(channel="chat.channel", handler=handler)\n'
    )
    return tmp_path


async def open_context(folder: Path) -> AsyncIterator[tuple[str | None, str | None]]:
    loaded = await open_agent(folder, catalog=catalog())
    try:
        ctx = loaded.runtime.context("chat", "integration")
        yield ctx.public_url, ctx.webhook_url
    finally:
        await loaded.close()


async def test_the_context_gives_agent_toml_s_url_and_the_alias_s_webhook_url(
    folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(PUBLIC_URL_ENV, raising=False)
    async for urls in open_context(folder):
        assert urls == (
            "https://from-toml.example.com",
            "https://from-toml.example.com/webhooks/chat",
        )


async def test_serve_s_public_url_wins_over_agent_toml(
    folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(PUBLIC_URL_ENV, "https://from-serve.example.com/")
    async for urls in open_context(folder):
        assert urls == (
            "https://from-serve.example.com",
            "https://from-serve.example.com/webhooks/chat",
        )


def test_serve_refuses_a_bad_public_url(folder: Path) -> None:
    result = CliRunner().invoke(app, ["serve", str(folder), "--public-url", "ftp://x"])
    assert result.exit_code == 2
    shown = " ".join(result.output.replace("│", " ").split())  # the error box, unwrapped
    assert "'ftp://x' is not an http(s) URL such as https://bot.example.com" in shown
