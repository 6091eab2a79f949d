from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from patchwire._agent_code import import_in_child
from patchwire.cli import app

ROOT = Path(__file__).resolve().parents[3]
EXAMPLE = ROOT / "examples" / "support-agent"
runner = CliRunner()


CHAT_CODE = """
from patchwire import Conversation, MessageContext


async def handler(ctx: MessageContext) -> None:
    await ctx.reply("hello")


conversation = Conversation(channel=["chat.channel"], handler=handler)
"""


def agent_file(tmp_path: Path, text: str, code: str | None = "") -> Path:
    """An agent folder with ``text`` as agent.toml and ``code`` (None: none) as agent.py."""
    (tmp_path / "agent.toml").write_text(text, encoding="utf-8")
    if code is not None:
        (tmp_path / "agent.py").write_text(code, encoding="utf-8")
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


CHAT_AGENT = 'name = "code-agent"\n[integrations]\nchat = "chat@latest"\n'
CODE_MISTAKES = {
    "missing": (
        None,
        "no-agent-code {code}: the agent code does not exist (create it (patchwire init writes "
        "one), or set `module` in agent.toml)",
    ),
    "syntax": (
        "x = 1\ndef handler(:\n",
        "agent-syntax {code}:2: SyntaxError: invalid syntax (fix it and run again)",
    ),
    "import": (
        "import json\nimport no_such_module_for_patchwire\n",
        "agent-import {code}:2: ModuleNotFoundError: No module named "
        "'no_such_module_for_patchwire' (while importing agent.py) (install what provides "
        "'no_such_module_for_patchwire' where patchwire runs, or fix the import)",
    ),
    "exits": (
        "import sys\n\nsys.exit(3)\n",
        "agent-import {code}:3: SystemExit: 3 (while importing agent.py) (fix the code there and "
        "run again)",
    ),
    "crashes": (
        "import os\nos._exit(4)\n",
        "agent-crashed {code}: importing it ended the process (exit code 4) (run `python {code}` "
        "to see why)",
    ),
    "interrupts": (
        "raise KeyboardInterrupt\n",
        "agent-crashed {code}: importing it ended the process (killed by SIGINT, last words: "
        "'KeyboardInterrupt') (run `python {code}` to see why)",
    ),
    "no-handler": (
        "from patchwire import Conversation\nchat = Conversation(channel='chat.channel')\n",
        "no-handler {code}: a Conversation on chat.channel has no handler (pass handler=... or "
        "use it as a decorator on an async function)",
    ),
}


@pytest.mark.parametrize("kind", sorted(CODE_MISTAKES))
def test_agent_code_mistakes_are_one_line_with_file_and_line(tmp_path: Path, kind: str) -> None:
    code, expected = CODE_MISTAKES[kind]
    folder = agent_file(tmp_path, CHAT_AGENT, code)
    result = runner.invoke(app, ["check", str(folder)])
    assert result.exit_code == 1, result.output
    file = folder / "agent.toml"
    assert result.output.splitlines() == [
        f"{file}: {expected.format(code=folder / 'agent.py')}",
        f"{file}: 1 problem",
    ]


def test_agent_code_that_hangs_while_importing_is_one_line(tmp_path: Path) -> None:
    code = tmp_path / "agent.py"
    code.write_text("import threading\nthreading.Event().wait()\n")
    report = import_in_child(code, timeout=0.5)
    assert [str(problem) for problem in report.problems] == [
        f"agent-timeout {code}: importing it took longer than 0.5 s (import should only define "
        "handlers: move slow work into a handler)"
    ]


def test_every_problem_of_config_and_code_in_one_run_and_no_secret_shown(tmp_path: Path) -> None:
    folder = agent_file(
        tmp_path,
        """name = "support-agent"
[integrations]
chat = "chat@latest"
desk = "zendeks@latest"
[integrations.hitl]
version = "generic-hitl@latest"
config = { signingSecret = "${PATCHWIRE_TEST_SECRET}" }
[plugins.hitl]
version = "hitl@latest"
dependencies.hitl = { integrationAlias = "hitl", integrationInterfaceAlias = "hitl<hitlSesion>" }
""",
        """import threading, time

from patchwire import Conversation, MessageContext


async def handler(ctx: MessageContext) -> None:
    await ctx.reply("hello")


print("agent code may print while it is imported")
threading.Thread(target=time.sleep, args=(60,)).start()  # and must not keep check waiting
chat = Conversation(channel=["chat.chanel", "hitl.hitl"], handler=handler)
other = Conversation(channel="chta.channel", handler=handler)
""",
    )
    started = time.monotonic()
    result = runner.invoke(
        app, ["check", str(folder)], env={"PATCHWIRE_TEST_SECRET": "hunter2-secret"}
    )
    assert time.monotonic() - started < 30
    assert result.exit_code == 1
    file, code = folder / "agent.toml", folder / "agent.py"
    offered = "channels offered: chat.channel, hitl.hitl"
    assert result.output.splitlines() == [
        f"{file}: not-installed integrations.desk.version: no installed integration is named "
        "'zendeks' (installed: chat, generic-hitl, intercom, webchat, zendesk) (did you mean "
        "'zendesk'?)",
        f"{file}: config-invalid integrations.hitl.config.endpointBaseUrl: required key "
        "'endpointBaseUrl' is missing (add it)",
        f"{file}: config-invalid integrations.hitl.config.signingSecret: String should have at "
        "least 16 characters (got '${PATCHWIRE_TEST_SECRET}')",
        f"{file}: unknown-implementation plugins.hitl.dependencies.hitl.integrationInterfaceAlias: "
        "integration 'hitl' (generic-hitl) offers no implementation key 'hitl<hitlSesion>' (did "
        "you mean 'hitl<hitlSession>'? offered keys: hitl<hitlSession>)",
        f"{file}: unknown-channel {code}:12: channel 'chat.chanel': integration 'chat' has no "
        f"channel 'chanel', so its handler would never run (did you mean 'chat.channel'? "
        f"{offered})",
        f"{file}: unknown-channel {code}:13: channel 'chta.channel': 'chta' is not an "
        f"integration alias in agent.toml, so its handler would never run (did you mean "
        f"'chat.channel'? {offered})",
        f"{file}: 6 problems",
    ]
    assert "hunter2" not in result.output
