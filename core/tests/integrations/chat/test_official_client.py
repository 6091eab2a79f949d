"""The official ``@botpress/chat`` client, run by Node, against a running agent."""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
from pathlib import Path

import pytest

JS = Path(__file__).resolve().parents[4] / "tests" / "js"

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def node() -> str:
    found = shutil.which("node")
    if found is None:
        pytest.skip("node is not installed: the official JavaScript client needs Node.js")
    if not (JS / "node_modules" / "@botpress" / "chat").is_dir():
        npm = shutil.which("npm")
        assert npm is not None, "node is installed but npm is not: install npm to run `npm ci`"
        subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=JS, check=True)
    return found


async def test_connect_converse_listen_and_typed_errors(node: str, served: str) -> None:
    process = await asyncio.create_subprocess_exec(
        node,
        "chat-roundtrip.mjs",
        f"{served}/webhooks/chat",
        "hello from node",
        cwd=JS,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    stdout, stderr = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode == 0, stderr.decode()
    result = json.loads(stdout)
    assert result["sent"]["payload"] == {"type": "text", "text": "hello from node"}
    assert result["sent"]["userId"] == result["user"]
    assert result["received"]["payload"] == {"type": "text", "text": "echo: hello from node"}
    assert result["received"]["isBot"] is True
    assert result["received"]["conversationId"] == result["conversation"]
    assert [m["id"] for m in result["listed"]] == [result["received"]["id"], result["sent"]["id"]]
    assert result["notFound"] == {
        "name": "ResourceNotFoundError",
        "code": 404,
        "type": "ResourceNotFound",
    }
    assert result["unauthorized"] == {
        "name": "UnauthorizedError",
        "code": 401,
        "type": "Unauthorized",
    }
