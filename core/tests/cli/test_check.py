from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

from patchwire.cli import app

ROOT = Path(__file__).resolve().parents[3]
EXAMPLE = ROOT / "examples" / "support-agent"
runner = CliRunner()


def agent_file(tmp_path: Path, text: str) -> Path:
    (tmp_path / "agent.toml").write_text(text, encoding="utf-8")
    return tmp_path


def test_the_example_agent_is_clean() -> None:
    result = runner.invoke(app, ["check", str(EXAMPLE)], env={"HITL_SIGNING_SECRET": ""})
    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == [
        f"{EXAMPLE / 'agent.toml'}: ok: agent 'support-agent' resolves (3 integrations, 1 plugin)"
    ]


def test_problems_are_one_line_each_and_exit_1(tmp_path: Path) -> None:
    folder = agent_file(
        tmp_path,
        """name = "broken-agent"
[integrations]
hitl = "generic-hitl@latest"
Desk = "helpscout@latest"
[plugins.hitl]
version = "hitl@latest"
dependencies.hitl = { integrationAlias = "htil" }
""",
    )
    result = runner.invoke(app, ["check", str(folder)])
    assert result.exit_code == 1
    file = folder / "agent.toml"
    assert result.output.splitlines() == [
        f"{file}: config-invalid integrations.hitl.config.endpointBaseUrl: required key "
        "'endpointBaseUrl' is missing (add it)",
        f"{file}: bad-alias integrations.Desk: 'Desk' is not a valid integration alias (2-64 "
        "characters: lowercase letters, digits, '-' or '_', starting with a letter, e.g. 'desk')",
        f"{file}: not-installed integrations.Desk.version: no installed integration is named "
        "'helpscout' (installed: chat, generic-hitl, intercom, webchat, zendesk) "
        "(pip install patchwire-helpscout "
        "(a guess from the patchwire-<name> naming convention; check the package's documentation))",
        f"{file}: unknown-integration-alias plugins.hitl.dependencies.hitl.integrationAlias: "
        "integration alias 'htil' is not declared in [integrations] (did you mean 'hitl'? "
        "declared aliases: hitl, Desk)",
        f"{file}: 4 problems",
    ]


def test_json_output_for_tools(tmp_path: Path) -> None:
    folder = agent_file(tmp_path, 'name = "x"\n')
    result = runner.invoke(app, ["check", str(folder / "agent.toml"), "--json"])
    assert result.exit_code == 1
    assert json.loads(result.output) == {
        "path": str(folder / "agent.toml"),
        "ok": False,
        "agent": "x",
        "problems": [
            {
                "code": "bad-name",
                "location": "name",
                "message": "'x' is not a valid agent name",
                "hint": "2-64 characters: lowercase letters, digits, '-' or '_', starting with "
                "a letter",
            }
        ],
        "notes": [],
    }


def test_toml_syntax_error(tmp_path: Path) -> None:
    folder = agent_file(tmp_path, 'name = "x"\nname = "y"\n')
    result = runner.invoke(app, ["check", str(folder), "--json"])
    assert result.exit_code == 1
    report = json.loads(result.output)
    assert report["agent"] is None
    assert report["problems"] == [
        {
            "code": "toml-syntax",
            "location": "line 2, column 11",
            "message": "cannot overwrite a value",
            "hint": "fix the TOML at that position (https://toml.io/en/v1.0.0)",
        }
    ]


def test_unset_variable_through_the_cli(tmp_path: Path) -> None:
    folder = agent_file(
        tmp_path,
        'name = "env-agent"\n[integrations.hitl]\nversion = "generic-hitl@latest"\n'
        'config = { endpointBaseUrl = "${PATCHWIRE_TEST_UNSET_URL}" }\n',
    )
    result = runner.invoke(app, ["check", str(folder)], env={"PATCHWIRE_TEST_UNSET_URL": None})
    assert result.exit_code == 1
    assert (
        "env-unset integrations.hitl.config.endpointBaseUrl: environment variable "
        "PATCHWIRE_TEST_UNSET_URL is not set" in result.output
    )


def test_a_missing_agent_is_a_usage_error(tmp_path: Path) -> None:
    result = runner.invoke(app, ["check", str(tmp_path)])
    assert result.exit_code == 2
    assert f"no-config {tmp_path / 'agent.toml'}: the file does not exist" in result.output


def test_the_installed_script_checks_the_example() -> None:
    script = Path(sys.executable).parent / "patchwire"
    environ = {key: value for key, value in os.environ.items() if not key.startswith("HITL_")}
    completed = subprocess.run(
        [str(script), "check", str(EXAMPLE), "--json"],
        capture_output=True,
        text=True,
        env=environ,
        timeout=60,
        check=False,
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr
    report = json.loads(completed.stdout)
    assert report["ok"] is True
    assert report["agent"] == "support-agent"


def test_online_reports_what_the_outside_systems_say(tmp_path: Path) -> None:
    folder = agent_file(
        tmp_path,
        """name = "online-agent"
[integrations.hitl]
version = "generic-hitl@latest"
config = { endpointBaseUrl = "http://127.0.0.1:9", signingSecret = "sixteen-characters-or-more" }
""",
    )
    offline = runner.invoke(app, ["check", str(folder)])
    assert offline.exit_code == 0, offline.output
    online = runner.invoke(app, ["check", str(folder), "--online"])
    assert online.exit_code == 1
    [line, summary] = online.output.splitlines()
    assert line.startswith(
        f"{folder / 'agent.toml'}: online integrations.hitl: http://127.0.0.1:9/ping kept failing"
    )
    assert summary == f"{folder / 'agent.toml'}: 1 problem"
