"""Node.js and npm for the tests that run the official JavaScript chat client.

Found, with ``tests/js``'s packages installed by ``npm ci`` on the first run, or the test is
skipped saying which tool is missing and how to get it.
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

JS = Path(__file__).resolve().parent / "js"
INSTALLED = [JS / "node_modules" / "@botpress" / "chat", JS / "node_modules" / "vitest"]


@dataclass(frozen=True)
class Node:
    """Where ``node`` and ``npx`` are."""

    node: str
    npx: str


def find_node() -> Node:
    """``node`` and ``npx``, tests/js installed; skips the calling test when one is missing."""
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed: the official JavaScript chat client needs Node.js 18+")
    npm, npx = shutil.which("npm"), shutil.which("npx")
    if npm is None or npx is None:
        pytest.skip(
            f"node is installed ({node}) but npm is not: install npm (Debian: apt-get install npm)"
            " to run the official JavaScript chat client's tests"
        )
    if not all(folder.is_dir() for folder in INSTALLED):
        subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=JS, check=True)
    return Node(node, npx)
