"""`patchwire demo` as a new user runs it: the whole handoff in a browser, webchat to desk."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
import time
import tomllib
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from patchwire.server import free_port

if TYPE_CHECKING:
    from playwright.async_api import Browser, Page

pytestmark = pytest.mark.slow

ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"


@dataclass
class RunningDemo:
    process: subprocess.Popen[str]
    chat_url: str
    desk_url: str
    desk_login: tuple[str, str]


@pytest.fixture
def demo(tmp_path: Path) -> Iterator[RunningDemo]:
    port, desk_port = free_port(0), free_port(0)
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "patchwire.cli",
            "demo",
            "--port",
            str(port),
            "--desk-port",
            str(desk_port),
            "--data",
            str(tmp_path),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
        cwd=tmp_path,
    )
    assert process.stdout is not None
    lines = [process.stdout.readline() for _ in range(3)]
    assert lines[:2] == [
        f"talk to the bot here:      http://127.0.0.1:{port}/webchat\n",
        f"answer as a human here:    http://127.0.0.1:{desk_port}/\n",
    ], "".join(lines) + process.stdout.read() if process.poll() is not None else lines
    login = re.fullmatch(r"log in to the desk as: +(\S+), password (\S+)\n", lines[2])
    assert login is not None, lines[2]
    running = RunningDemo(process, lines[0].split()[-1], lines[1].split()[-1], (login[1], login[2]))
    try:
        yield running
    finally:
        process.send_signal(signal.SIGINT)
        output, _ = process.communicate(timeout=20)
    assert process.returncode == 0, output
    assert output.rstrip().endswith("stopped"), output
    assert "ERROR" not in output and "Traceback" not in output, output


def test_the_demo_answers_on_both_urls_and_stops_on_ctrl_c(demo: RunningDemo) -> None:
    chat = httpx.get(demo.chat_url, follow_redirects=True, timeout=10)
    assert chat.status_code == 200 and "<title>Assistant</title>" in chat.text
    desk = httpx.get(demo.desk_url, follow_redirects=True, timeout=10)
    assert desk.status_code == 200 and "<title>Log in · Agent desk</title>" in desk.text
    name, password = demo.desk_login
    with httpx.Client(base_url=demo.desk_url, timeout=10) as client:
        wrong = client.post("/api/login", json={"name": name, "password": "not it, surely"})
        assert (wrong.status_code, wrong.json()["error"]) == (401, "wrong name or password")
        login = client.post("/api/login", json={"name": name, "password": password})
        assert login.status_code == 200, login.text
        assert "<title>Agent desk</title>" in client.get("/").text


async def test_ctrl_c_with_open_chat_and_desk_streams_ends_them_and_exits_at_once(
    demo: RunningDemo,
) -> None:
    agent_url = demo.chat_url.rsplit("/", 1)[0]
    async with contextlib.AsyncExitStack() as streams:
        client = await streams.enter_async_context(httpx.AsyncClient(timeout=10))
        opened = []
        for alias in ("chat", "webchat", "webchat"):
            api = f"{agent_url}/webhooks/{alias}"
            user = (await client.post(f"{api}/users", json={})).json()
            headers = {"x-user-key": user["key"]}
            created = await client.post(f"{api}/conversations", json={}, headers=headers)
            listen = f"{api}/conversations/{created.json()['conversation']['id']}/listen"
            stream = await streams.enter_async_context(
                client.stream("GET", listen, headers=headers)
            )
            assert stream.status_code == 200, await stream.aread()
            opened.append(stream)
        name, password = demo.desk_login
        desk = await streams.enter_async_context(httpx.AsyncClient(base_url=demo.desk_url))
        login = await desk.post("/api/login", json={"name": name, "password": password})
        assert login.status_code == 200, login.text
        updates = await streams.enter_async_context(desk.stream("GET", "/api/events"))
        assert updates.status_code == 200, await updates.aread()
        opened.append(updates)
        signalled = time.monotonic()
        demo.process.send_signal(signal.SIGINT)
        # Each stream ends cleanly (an unfinished chunked body would raise here).
        for stream in opened:
            async for _ in stream.aiter_bytes():
                pass
        streams_ended = time.monotonic() - signalled
    returncode = await asyncio.to_thread(demo.process.wait, 5)
    stopped = time.monotonic() - signalled
    assert (len(opened), returncode) == (4, 0)
    assert streams_ended < 1 and stopped < 5, (streams_ended, stopped)


def test_an_explicit_busy_port_is_an_error_naming_it(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        process = subprocess.run(
            [sys.executable, "-m", "patchwire.cli", "demo", "--port", str(port)],
            capture_output=True,
            text=True,
            cwd=tmp_path,
            timeout=60,
        )
    assert process.returncode == 1, process.stdout + process.stderr
    assert process.stdout == ""
    assert process.stderr.splitlines() == [
        f"error: port {port} (--port {port}) is in use on 127.0.0.1: stop what listens there, "
        "pass another --port, or leave --port out to use a free port"
    ]


@pytest.mark.browser
async def test_the_whole_handoff_in_a_browser(demo: RunningDemo, chromium: Browser) -> None:
    browser = chromium
    ARTIFACTS.mkdir(exist_ok=True)

    async def shot(page: Page, name: str) -> None:
        await page.screenshot(path=str(ARTIFACTS / f"demo-{name}.png"))

    user = await browser.new_page(viewport={"width": 420, "height": 760})
    await user.goto(demo.chat_url)
    await user.wait_for_selector("#status:has-text('online')", timeout=15_000)

    async def say(text: str) -> None:
        await user.fill("#input", text)
        await user.press("#input", "Enter")

    await say("my parcel never arrived")
    await user.wait_for_selector(".row.theirs", timeout=15_000)
    await say("/starthitl")
    await user.wait_for_selector(".row.theirs:has-text('Escalating to support...')", timeout=15_000)
    await shot(user, "1-user-hands-off")

    agent = await browser.new_page(viewport={"width": 1100, "height": 760})
    await agent.goto(demo.desk_url)
    await agent.wait_for_selector("#login", timeout=15_000)
    name, password = demo.desk_login
    await agent.fill("#name", name)
    await agent.fill("#password", password)
    await agent.click("#submit")
    await agent.wait_for_selector(f"#me:has-text('{name}')", timeout=15_000)
    await agent.wait_for_selector("#queue .item:has-text('Support HITL')", timeout=15_000)
    await agent.click("#queue .item:has-text('Support HITL')")
    history = agent.locator("#history")
    await history.locator(".message.user:has-text('my parcel never arrived')").wait_for()
    await history.locator(".message.user:has-text('/starthitl')").wait_for()
    await shot(agent, "2-desk-queue-with-history")

    await agent.click("#claim")
    await agent.wait_for_selector(f"#status:has-text('claimed by {name}')", timeout=15_000)
    await agent.fill("#reply", "Hi, I am here. Let me look at your parcel.")
    await agent.press("#reply", "Enter")
    await history.locator(".message.agent:has-text('Let me look at your parcel')").wait_for()

    reply = user.locator(".row.theirs", has_text="Let me look at your parcel")
    await reply.wait_for(timeout=15_000)
    assert await reply.locator(".author").inner_text() == name
    await say("thanks, that was quick")
    await history.locator(".message.user:has-text('thanks, that was quick')").wait_for(
        timeout=15_000
    )
    await shot(user, "3-user-sees-the-agent")

    await say("/end")
    await user.wait_for_selector(
        ".row.theirs:has-text('You have ended the session with the human agent')",
        timeout=15_000,
    )
    await agent.wait_for_selector("#status:has-text('closed')", timeout=15_000)
    assert await agent.locator("#reply").is_disabled()
    await shot(agent, "4-desk-shows-it-closed")

    answers = await user.locator(".row.theirs").count()
    await say("is the bot back?")
    await user.locator(".row.theirs").nth(answers).wait_for(timeout=15_000)
    assert "is the bot back?" not in await history.inner_text()
    await shot(user, "5-the-bot-answers-again")


def test_a_wheel_carries_the_demo_agent(tmp_path: Path) -> None:
    root = Path(__file__).resolve().parents[1]
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(tmp_path),
            str(root),
        ],
        check=True,
        capture_output=True,
    )
    [wheel] = tmp_path.glob("patchwire-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        packed = {name: archive.read(name) for name in archive.namelist() if "_demo_agent" in name}
    examples = root / "examples" / "support-agent"
    assert packed == {
        f"patchwire/_demo_agent/{name}": (examples / name).read_bytes()
        for name in ("agent.toml", "agent.py")
    }


DEV_TOOLS = {"mypy", "ruff", "playwright", "pytest"}


def _installed_by(target: str, venv: Path) -> set[str]:
    """Every distribution ``make <target>`` installs into a fresh ``venv``: what its pip lines
    name, and all they require (read from this environment's metadata), extras included."""
    root = Path(__file__).resolve().parents[1]
    planned = subprocess.run(
        ["make", "-n", "-C", str(root), target, f"VENV={venv}"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    wanted: list[tuple[str, frozenset[str]]] = []
    for line in planned.splitlines():
        if " -m pip install " not in line or "--upgrade pip" in line:
            continue
        for editable in re.findall(r"-e '?([^' ]+)'?", line):
            folder, _, extras = editable.partition("[")
            project = tomllib.loads((root / folder / "pyproject.toml").read_text())["project"]
            wanted.append((project["name"], frozenset(extras.rstrip("]").split(",")) - {""}))
    assert wanted, planned
    seen: set[tuple[str, frozenset[str]]] = set()
    while wanted:
        name, extras = wanted.pop()
        if (canonicalize_name(name), extras) in seen:
            continue
        seen.add((canonicalize_name(name), extras))
        for requirement in map(Requirement, metadata.requires(name) or []):
            if requirement.marker is None or any(
                requirement.marker.evaluate({"extra": extra}) for extra in {"", *extras}
            ):
                wanted.append((requirement.name, frozenset(requirement.extras)))
    return {name for name, _ in seen}


def test_make_demo_installs_no_dev_tools_and_make_test_does(tmp_path: Path) -> None:
    demo = _installed_by("demo", tmp_path / "venv")
    test = _installed_by("test", tmp_path / "venv")
    assert {"patchwire", "patchwire-generic-hitl", "uvicorn", "argon2-cffi"} <= demo
    assert demo & DEV_TOOLS == set()
    assert test >= DEV_TOOLS and test >= demo
