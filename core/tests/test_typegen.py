from __future__ import annotations

import shutil
import textwrap
from pathlib import Path

import pytest
from mypy import api as mypy_api
from typer.testing import CliRunner

from patchwire.cli import app

EXAMPLE = Path(__file__).parents[2] / "examples" / "support-agent"


def generate(tmp_path: Path) -> Path:
    folder = tmp_path / "agent"
    shutil.copytree(EXAMPLE, folder)
    result = CliRunner().invoke(app, ["typegen", str(folder)])
    assert result.exit_code == 0, result.output
    return folder


def test_generated_module_is_stable(tmp_path: Path) -> None:
    folder = generate(tmp_path)
    first = (folder / "patchwire_types.py").read_text()
    CliRunner().invoke(app, ["typegen", str(folder)])
    assert (folder / "patchwire_types.py").read_text() == first
    assert "async def start_hitl(self, *, title: str," in first


SNIPPETS = {
    "good.py": """
        from patchwire_types import plugins

        async def escalate(conversation_id: str, user_id: str) -> str:
            started = await plugins.hitl.actions.start_hitl(
                title="Help", conversation_id=conversation_id, user_id=user_id,
                hitl_session={"anything": 1},
            )
            return started.downstream_conversation_id
        """,
    "field.py": """
        from patchwire_types import plugins

        async def escalate() -> None:
            await plugins.hitl.actions.start_hitl(titel="Help", conversation_id="c", user_id="u")
        """,
    "action.py": """
        from patchwire_types import plugins

        async def escalate() -> None:
            await plugins.hitl.actions.start_hitll(title="Help", conversation_id="c", user_id="u")
        """,
}


def test_mypy_accepts_correct_calls_and_flags_misspellings(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = generate(tmp_path)
    for name, code in SNIPPETS.items():
        (folder / name).write_text(textwrap.dedent(code))
    monkeypatch.setenv("MYPYPATH", str(folder))
    out, err, status = mypy_api.run(
        [
            "--strict",
            "--no-incremental",
            "--cache-dir=/dev/null",
            *(str(folder / n) for n in SNIPPETS),
        ]
    )
    report = out + err
    assert status == 1, report
    assert "good.py" not in report
    assert 'field.py:5: error: Unexpected keyword argument "titel"' in report
    assert 'action.py:5: error: "HitlPluginActions" has no attribute "start_hitll"' in report
