from __future__ import annotations

import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from patchwire.cli import app
from patchwire.runtime import load_agent_code


def test_init_writes_an_agent_that_checks_and_loads(tmp_path: Path) -> None:
    runner = CliRunner()
    folder = tmp_path / "my_agent"
    created = runner.invoke(app, ["init", str(folder)])
    assert created.exit_code == 0, created.output
    checked = runner.invoke(app, ["check", str(folder)])
    assert checked.exit_code == 0, checked.output
    assert "agent 'my-agent' resolves" in checked.output
    code = load_agent_code(folder / "agent.py")
    assert [c.channels for c in code.conversations] == [("chat.channel", "webchat.channel")]


def test_init_never_overwrites(tmp_path: Path) -> None:
    (tmp_path / "agent.toml").write_text('name = "mine"\n')
    result = CliRunner().invoke(app, ["init", str(tmp_path)])
    assert result.exit_code == 2
    assert "exists already; nothing written" in result.output
    assert (tmp_path / "agent.toml").read_text() == 'name = "mine"\n'


def test_serve_refuses_an_agent_with_problems(tmp_path: Path) -> None:
    (tmp_path / "agent.toml").write_text('name = "broken"\n[integrations]\nx = "nothing@latest"\n')
    result = CliRunner().invoke(app, ["serve", str(tmp_path)])
    assert result.exit_code == 1
    assert "not-installed integrations.x.version" in result.output


def test_init_tells_the_command_as_it_can_be_typed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Run by a path that PATH does not find (`.venv/bin/patchwire`), it says that path."""
    bin_folder = tmp_path / "venv-bin"
    bin_folder.mkdir()
    script = bin_folder / "patchwire"
    script.write_text("#!/bin/sh\n")
    script.chmod(0o755)
    monkeypatch.setattr(sys, "argv", [str(script), "init"])
    monkeypatch.setenv("PATH", str(tmp_path / "elsewhere"))
    told = CliRunner().invoke(app, ["init", str(tmp_path / "a")])
    assert told.output.endswith(f"run: {script} dev {tmp_path / 'a'}\n"), told.output
    monkeypatch.setenv("PATH", str(bin_folder))
    told = CliRunner().invoke(app, ["init", str(tmp_path / "b")])
    assert told.output.endswith(f"run: patchwire dev {tmp_path / 'b'}\n"), told.output
