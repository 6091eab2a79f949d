"""The examples run as the README says."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


@pytest.mark.slow
def test_the_demo_agent_serves_its_web_chat_with_patchwire_dev(tmp_path: Path) -> None:
    folder = tmp_path / "chat-agent"
    shutil.copytree(EXAMPLES / "chat-agent", folder)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    process = subprocess.Popen(
        [sys.executable, "-m", "patchwire.cli", "dev", str(folder), "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        for _ in range(150):
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        page = httpx.get(f"{base}/webchat", follow_redirects=True, timeout=5)
        assert page.status_code == 200 and "<html" in page.text.lower()
    finally:
        process.send_signal(signal.SIGINT)
        output, _ = process.communicate(timeout=20)
    assert f"webchat: {base}/webhooks/webchat" in output


@pytest.mark.parametrize("example", sorted(p.name for p in EXAMPLES.iterdir() if p.is_dir()))
def test_every_example_checks_clean(example: str) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "patchwire.cli", "check", str(EXAMPLES / example)],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr


ZENDESK_EXAMPLE = EXAMPLES / "support-agent" / "agent.zendesk.toml"


def test_the_zendesk_example_says_how_to_install_what_is_missing() -> None:
    from patchwire import Catalog
    from patchwire._config import load_config
    from patchwire._resolver import run
    from patchwire.integrations.chat import integration as chat
    from patchwire.integrations.webchat import integration as webchat
    from patchwire.interfaces.hitl import definition as hitl
    from patchwire_hitl import plugin

    without_zendesk = Catalog.from_objects(
        interfaces=[hitl], integrations=[chat, webchat], plugins=[plugin]
    )
    environ = {
        "ZENDESK_URL": "https://acme.zendesk.com",
        "ZENDESK_CLIENT_ID": "bot",
        "ZENDESK_CLIENT_SECRET": "s3cret",
        "PUBLIC_URL": "https://bot.example.com",
    }
    problems = run(load_config(ZENDESK_EXAMPLE), without_zendesk, environ).problems
    assert [(p.code, p.location) for p in problems] == [
        ("not-installed", "integrations.hitl.version")
    ]
    assert "pip install patchwire-zendesk" in problems[0].hint


def test_the_zendesk_example_checks_clean_once_configured() -> None:
    environ = {
        "ZENDESK_URL": "https://acme.zendesk.com",
        "ZENDESK_CLIENT_ID": "bot",
        "ZENDESK_CLIENT_SECRET": "s3cret",
        "PUBLIC_URL": "https://bot.example.com",
    }
    unset = subprocess.run(
        [sys.executable, "-m", "patchwire.cli", "check", str(ZENDESK_EXAMPLE)],
        capture_output=True,
        text=True,
        env={k: v for k, v in os.environ.items() if k not in environ},
    )
    assert unset.returncode == 1
    assert [line.split(" ")[1:3] for line in unset.stdout.splitlines()[:-1]] == [
        ["env-unset", "integrations.hitl.config.baseUrl:"],
        ["env-unset", "integrations.hitl.config.clientId:"],
        ["env-unset", "integrations.hitl.config.clientSecret:"],
        ["env-unset", "integrations.hitl.config.publicUrl:"],
    ]
    configured = subprocess.run(
        [sys.executable, "-m", "patchwire.cli", "check", str(ZENDESK_EXAMPLE)],
        capture_output=True,
        text=True,
        env={**os.environ, **environ},
    )
    assert configured.returncode == 0, configured.stdout + configured.stderr
