"""`patchwire dev` and `serve` with missing or broken agent code: one line, a non-zero exit."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from patchwire.cli import app
from patchwire.server import free_port

WORKING_AGENT = """
from patchwire import Conversation, MessageContext


async def handler(ctx: MessageContext) -> None:
    await ctx.reply("hello")


conversation = Conversation(channel=["chat.channel"], handler=handler)
"""


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    agent = tmp_path / "agent"
    agent.mkdir()
    (agent / "agent.toml").write_text(
        'name = "broken-agent"\n[integrations]\nchat = "chat@latest"\n'
    )
    return agent


def patchwire(*arguments: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """The command as a user runs it; ``timeout`` fails the test if it keeps running."""
    return subprocess.run(
        [sys.executable, "-m", "patchwire.cli", *arguments],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=60,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )


def refusal(command: str, folder: Path) -> str:
    """What ``patchwire dev|serve FOLDER`` prints when it refuses to start (exit 1, no stdout)."""
    result = patchwire(command, str(folder), "--port", str(free_port()), cwd=folder.parent)
    assert result.returncode == 1, result.stdout + result.stderr
    assert result.stdout == ""
    return result.stderr


BROKEN = {
    "syntax": (
        "x = 1\ndef handler(:\n",
        "{file}:2: SyntaxError: invalid syntax: fix it and run again",
    ),
    "missing-import": (
        "import json\nimport no_such_module_for_patchwire\n",
        "{file}:2: ModuleNotFoundError: No module named 'no_such_module_for_patchwire' "
        "(while importing agent.py): install what provides 'no_such_module_for_patchwire' "
        "where patchwire runs, or fix the import",
    ),
    "raises": (
        "x = 1\n\n\nraise RuntimeError('no API key configured')\n",
        "{file}:4: RuntimeError: no API key configured (while importing agent.py): "
        "fix the code there and run again",
    ),
}


@pytest.mark.slow
@pytest.mark.parametrize("command", ["dev", "serve"])
@pytest.mark.parametrize("kind", sorted(BROKEN))
def test_broken_agent_code_is_one_line_naming_file_and_line(
    folder: Path, command: str, kind: str
) -> None:
    code, expected = BROKEN[kind]
    (folder / "agent.py").write_text(code)
    started = time.monotonic()
    said = refusal(command, folder)
    assert time.monotonic() - started < 30  # dev exits instead of watching
    assert said == f"error: {expected.format(file=folder.resolve() / 'agent.py')}\n"


@pytest.mark.slow
@pytest.mark.parametrize("command", ["dev", "serve"])
def test_missing_agent_code_is_one_line_saying_what_to_do(folder: Path, command: str) -> None:
    assert refusal(command, folder) == (
        f"error: {folder.resolve() / 'agent.py'}: the agent code does not exist: create it "
        "(patchwire init writes one), or set `module` in agent.toml\n"
    )


@pytest.mark.slow
@pytest.mark.parametrize("command", ["dev", "serve"])
def test_a_channel_no_integration_offers_is_one_line(folder: Path, command: str) -> None:
    (folder / "agent.py").write_text(WORKING_AGENT.replace('"chat.channel"', '"chat.chanel"'))
    assert refusal(command, folder) == (
        f"{folder.resolve() / 'agent.toml'}: unknown-channel {folder.resolve() / 'agent.py'}:9: "
        "channel 'chat.chanel': integration 'chat' has no channel 'chanel', so its handler "
        "would never run (did you mean 'chat.channel'? channels offered: chat.channel)\n"
    )


@pytest.fixture
def watching(folder: Path) -> Iterator[tuple[subprocess.Popen[str], str]]:
    """``patchwire dev --watch-on-error`` started on broken code; stopped with Ctrl-C."""
    (folder / "agent.py").write_text("def handler(:\n")
    port = free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "patchwire.cli",
            "dev",
            str(folder),
            "--port",
            str(port),
            "--watch-on-error",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        cwd=folder.parent,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        yield process, f"http://127.0.0.1:{port}"
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=15)
        finally:
            process.kill()


def _healthy(url: str) -> bool:
    try:
        return httpx.get(f"{url}/healthz", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


@pytest.mark.slow
def test_dev_watch_on_error_waits_for_the_fix_then_serves(
    folder: Path, watching: tuple[subprocess.Popen[str], str]
) -> None:
    process, url = watching
    assert process.stdout is not None
    file = folder.resolve() / "agent.py"
    first = process.stdout.readline()
    assert first == f"error: {file}:1: SyntaxError: invalid syntax: fix it and run again\n"
    # The server process fails to start on the same code: one line again, still watching.
    for line in iter(process.stdout.readline, ""):
        if "Application startup failed" in line:
            break
        assert "Traceback" not in line, line
    assert process.poll() is None and not _healthy(url)
    (folder / "agent.py").write_text(WORKING_AGENT)
    deadline = time.monotonic() + 30
    while not _healthy(url):
        assert process.poll() is None and time.monotonic() < deadline
        time.sleep(0.2)
    process.send_signal(signal.SIGINT)
    output, _ = process.communicate(timeout=15)
    assert process.returncode == 0, output
    assert "Traceback" not in output, output


@pytest.mark.slow
@pytest.mark.parametrize("command", ["dev", "serve"])
async def test_ctrl_c_with_open_streams_stops_at_once_without_a_traceback(
    folder: Path, command: str
) -> None:
    (folder / "agent.py").write_text(WORKING_AGENT)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    process = subprocess.Popen(
        [sys.executable, "-m", "patchwire.cli", command, str(folder), "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        cwd=folder.parent,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        deadline = time.monotonic() + 30
        while not await asyncio.to_thread(_healthy, url):
            assert process.poll() is None and time.monotonic() < deadline
        async with contextlib.AsyncExitStack() as stack:
            client = await stack.enter_async_context(httpx.AsyncClient(timeout=10))
            streams = []
            for _ in range(2):
                key = (await client.post(f"{url}/webhooks/chat/users", json={})).json()["key"]
                headers = {"x-user-key": key}
                created = await client.post(
                    f"{url}/webhooks/chat/conversations", json={}, headers=headers
                )
                listen = f"{url}/webhooks/chat/conversations/{created.json()['conversation']['id']}"
                stream = await stack.enter_async_context(
                    client.stream("GET", f"{listen}/listen", headers=headers)
                )
                assert stream.status_code == 200
                streams.append(stream)
            signalled = time.monotonic()
            process.send_signal(signal.SIGINT)
            for stream in streams:  # each ends cleanly: a cut chunked body would raise
                async for _ in stream.aiter_bytes():
                    pass
        output, _ = await asyncio.to_thread(process.communicate, timeout=10)
        stopped = time.monotonic() - signalled
    finally:
        process.kill()
    assert (len(streams), process.returncode) == (2, 0), output
    assert stopped < 5, output
    assert "ERROR" not in output and "Traceback" not in output, output


@pytest.mark.parametrize("given", ["default", "option"])
def test_several_workers_on_sqlite_are_refused_in_one_line(
    folder: Path, given: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    (folder / "agent.py").write_text(WORKING_AGENT)
    monkeypatch.delenv("PATCHWIRE_DATABASE_URL", raising=False)
    url = f"sqlite:///{folder.resolve() / '.patchwire' / 'agent.db'}"
    options = ["--database-url", url] if given == "option" else []
    result = CliRunner().invoke(app, ["serve", str(folder), "--workers", "2", *options])
    assert result.exit_code == 2, result.output
    assert result.stdout == ""
    assert result.stderr == (
        f"error: --workers 2 needs PostgreSQL, but the database is SQLite ({url}), which takes "
        "one server process: give --database-url postgresql://... (or set "
        "$PATCHWIRE_DATABASE_URL, or database_url in agent.toml), or serve with --workers 1\n"
    )
    assert not (folder / ".patchwire").exists(), "refused before anything was opened"
