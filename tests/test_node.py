"""Without Node.js or npm the JavaScript client's tests are skipped with the reason, not failed."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from tests.node import find_node


def executable(folder: Path, name: str) -> None:
    program = folder / name
    program.write_text("#!/bin/sh\nexit 1\n")
    program.chmod(program.stat().st_mode | stat.S_IXUSR)


def test_node_without_npm_skips_naming_npm(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    executable(tmp_path, "node")
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(pytest.skip.Exception, match=r"node is installed \(.*\) but npm is not"):
        find_node()


def test_no_node_skips_naming_node(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(pytest.skip.Exception, match="node is not installed"):
        find_node()
