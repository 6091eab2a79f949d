"""``get_session`` and ``list_sessions`` are typed for agent code by ``patchwire typegen``."""

from __future__ import annotations

import shutil
import textwrap
from pathlib import Path

import pytest
from mypy import api as mypy_api
from typer.testing import CliRunner

from patchwire.cli import app

EXAMPLE = Path(__file__).parents[3] / "examples" / "support-agent"

SNIPPET = """
    from datetime import datetime

    from patchwire_types import plugins

    async def who_helped(conversation_id: str) -> tuple[str | None, datetime | None]:
        found = await plugins.hitl.actions.get_session(conversation_id=conversation_id)
        if found.session is None or found.session.agent is None:
            return None, None
        return found.session.agent.name, found.session.ended_at

    async def busy(agent_id: str) -> int:
        listed = await plugins.hitl.actions.list_sessions(status="active", agent_id=agent_id)
        return len(listed.sessions)

    async def wrong() -> None:
        await plugins.hitl.actions.list_sessions(status="open")
        await plugins.hitl.actions.get_session(conversation="c")
"""


def test_session_queries_are_typed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "agent"
    shutil.copytree(EXAMPLE, folder)
    result = CliRunner().invoke(app, ["typegen", str(folder)])
    assert result.exit_code == 0, result.output
    (folder / "queries.py").write_text(textwrap.dedent(SNIPPET))
    monkeypatch.setenv("MYPYPATH", str(folder))
    out, err, status = mypy_api.run(
        ["--strict", "--no-incremental", "--cache-dir=/dev/null", str(folder / "queries.py")]
    )
    report = out + err
    errors = [line for line in report.splitlines() if ": error:" in line]
    assert status == 1, report
    assert [line.split(":")[1] for line in errors] == ["17", "18"], report
    assert 'Argument "status" to "list_sessions"' in errors[0]
    assert 'Unexpected keyword argument "conversation"' in errors[1]
