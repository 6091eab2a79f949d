"""Issue 16's "done when", from an empty folder, as a third-party author would go.

``patchwire new`` writes the packages; pip installs them editable into a throwaway virtual
environment (nothing downloaded: the environment sees this interpreter's packages); then the
installed patchwire lists and checks them, and their own tests, ruff and mypy run on them.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import xml.etree.ElementTree as ElementTree
from pathlib import Path

import pytest

from patchwire.testing import ThrowawayEnvironment

pytestmark = pytest.mark.slow

TOOLS = Path(sys.executable).parent


def _install_editable(environment: ThrowawayEnvironment, package: Path) -> None:
    """``pip install -e 'package[test]'``: its dependencies are already there, so no index."""
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "--python",
            str(environment.python),
            "install",
            "--quiet",
            "--no-index",
            "--no-build-isolation",
            "-e",
            f"{package}[test]",
        ],
        check=True,
        capture_output=True,
    )


def _new(environment: ThrowawayEnvironment, folder: Path, *arguments: str) -> Path:
    created = environment.run("new", *arguments, "--dir", str(folder))
    assert created.returncode == 0, created.stderr
    package = folder / f"patchwire-{arguments[1]}"
    assert package.is_dir(), created.stdout
    return package


def _lint(package: Path, module: str, cache: Path) -> None:
    ruff = subprocess.run(
        [str(TOOLS / "ruff"), "check", "--no-cache", "."],
        cwd=package,
        capture_output=True,
        text=True,
    )
    assert ruff.returncode == 0, ruff.stdout
    formatted = subprocess.run(
        [str(TOOLS / "ruff"), "format", "--check", "--no-cache", "."],
        cwd=package,
        capture_output=True,
        text=True,
    )
    assert formatted.returncode == 0, formatted.stdout
    mypy = subprocess.run(
        [str(TOOLS / "mypy"), "--strict", "--cache-dir", str(cache), module, "tests"],
        cwd=package,
        capture_output=True,
        text=True,
    )
    assert mypy.returncode == 0, mypy.stdout


def _pytest(environment: ThrowawayEnvironment, package: Path) -> list[ElementTree.Element]:
    """The package's own test run, in the environment; one element per test case."""
    report = package / "report.xml"
    subprocess.run(
        [str(environment.python), "-m", "pytest", "-p", "no:cacheprovider", f"--junitxml={report}"],
        cwd=package,
        capture_output=True,
        text=True,
    )
    return list(ElementTree.parse(report).getroot().iter("testcase"))


def test_a_new_integration_installs_lints_and_fails_naming_what_is_left(tmp_path: Path) -> None:
    environment = ThrowawayEnvironment(tmp_path / "venv")
    folder = tmp_path / "work"
    folder.mkdir()
    package = _new(environment, folder, "integration", "acmedesk", "--implements", "hitl")
    _install_editable(environment, package)

    listed = environment.run("list", "--json")
    assert listed.returncode == 0, listed.stderr
    [acmedesk] = [i for i in json.loads(listed.stdout)["integrations"] if i["name"] == "acmedesk"]
    assert acmedesk["implementation_keys"] == ["hitl<hitlSession>"]
    assert acmedesk["distribution"] == "patchwire-acmedesk"
    assert acmedesk["version"] == acmedesk["definition_version"] == "0.1.0"

    _lint(package, "patchwire_acmedesk", tmp_path / "mypy")

    cases = _pytest(environment, package)
    conformance = [case for case in cases if "TestAcmedesk" in case.get("classname", "")]
    assert len(conformance) >= 10, "the kit's conformance tests did not run"
    assert not [case for case in cases if case.find("error") is not None], "errors, not failures"
    failures = [f for case in conformance if (f := case.find("failure")) is not None]
    assert failures, "the stubs passed the conformance kit"
    reports = [f"{failure.get('message', '')}\n{failure.text or ''}" for failure in failures]
    assert all("not implemented: " in report for report in reports), reports
    assert any(report.startswith("not implemented: create_user") for report in reports)


def test_a_new_plugin_installs_passes_its_tests_and_checks_clean(tmp_path: Path) -> None:
    environment = ThrowawayEnvironment(tmp_path / "venv")
    folder = tmp_path / "work"
    folder.mkdir()
    package = _new(environment, folder, "plugin", "greeter")
    _install_editable(environment, package)
    _lint(package, "patchwire_greeter", tmp_path / "mypy")

    cases = _pytest(environment, package)
    assert len(cases) == 3
    assert all(len(case) == 0 for case in cases), "a test of the new plugin did not pass"

    agent = folder / "agent"
    assert environment.run("init", str(agent)).returncode == 0
    toml = agent / "agent.toml"
    toml.write_text(
        toml.read_text() + '\n[plugins.greeter]\nversion = "greeter@latest"\n'
        'config = { greeting = "Welcome" }\n'
    )
    checked = environment.run("check", str(agent))
    assert checked.returncode == 0, checked.stdout + checked.stderr


_USER = """
    answer = await client(ctx).call(
        "POST", "/users", {"name": data.name}, idempotency_key=ctx.idempotency_key()
    )
    user = await ctx.get_or_create_user(tags={"acmeUserId": answer["id"]}, name=data.name)
    return CreateUserOutput(user_id=user.id)
"""
_START = """
    transcript = [as_text(entry.type, entry.payload) for entry in data.message_history]
    answer = await client(ctx).call(
        "POST", "/conversations", {"transcript": transcript},
        idempotency_key=ctx.idempotency_key(),
    )
    conversation = await ctx.create_conversation(channel="hitl", tags={"acmeId": answer["id"]})
    return StartHitlOutput(conversation_id=conversation.id)
"""
_STOP = """
    conversation = await ctx.get_conversation(data.conversation_id)
    assert conversation is not None
    await client(ctx).call(
        "POST", f"/conversations/{conversation.tags['acmeId']}/close",
        idempotency_key=ctx.idempotency_key(),
    )
    return StopHitlOutput()
"""
_SEND = """
    conversation = await ctx.get_conversation(message.conversation_id)
    assert conversation is not None
    payload = {k: v for k, v in message.payload.items() if k not in ("userId", "additionalData")}
    await client(ctx).call(
        "POST", f"/conversations/{conversation.tags['acmeId']}/messages",
        {"text": as_text(message.type, payload)}, idempotency_key=message.id,
    )
"""
_FIND = """
    [conversation] = await ctx.find_conversations(
        {"acmeId": delivery.remote_conversation_id}, own=True
    )
"""
_AGENT = """
    agent = await ctx.get_or_create_user(
        tags={"acmeAgent": delivery.data["agent"], "role": "agent"}, name=delivery.data["agent"]
    )
"""
PIECES = {
    "create_user": _USER,
    "start_hitl": _START,
    "stop_hitl": _STOP,
    **{f"hitl.{kind}": _SEND for kind in ("text", "image", "audio", "video", "file", "bloc")},
    "hitl_assigned webhook": _FIND
    + _AGENT
    + """
    await emit_hitl_assigned(
        ctx, HitlAssigned(conversation_id=conversation.id, user_id=agent.id),
        conversation_id=conversation.id,
    )
""",
    "hitl_stopped webhook": _FIND
    + """
    await emit_hitl_stopped(
        ctx, HitlStopped(conversation_id=conversation.id), conversation_id=conversation.id
    )
""",
    "hitl incoming messages": _FIND
    + _AGENT
    + """
    await ctx.receive_message(
        conversation_id=conversation.id, user_id=agent.id, type=delivery.data["type"],
        payload=delivery.data["payload"], dedupe_key=delivery.id,
    )
""",
}
"""What an author writes in place of each stub, following docs/authoring.md (the fake
service's API is the scaffold's)."""


def test_the_integration_scaffold_completed_as_the_guide_says_passes_the_kit(
    tmp_path: Path,
) -> None:
    arguments = ["new", "integration", "acmedesk", "--implements", "hitl", "--dir", str(tmp_path)]
    created = subprocess.run(
        [sys.executable, "-m", "patchwire.cli", *arguments],
        capture_output=True,
        text=True,
    )
    assert created.returncode == 0, created.stderr
    package = tmp_path / "patchwire-acmedesk"
    source = package / "patchwire_acmedesk" / "_integration.py"
    code = source.read_text().replace(
        "from patchwire.runtime import",
        "from patchwire.messages import as_text\nfrom patchwire.runtime import",
    )
    for piece, body in PIECES.items():
        stub = f'    raise not_implemented("{piece}")\n'
        assert code.count(stub) == 1, piece
        code = code.replace(stub, textwrap.indent(textwrap.dedent(body).lstrip("\n"), "    "))
    assert "raise not_implemented(" not in code
    source.write_text(code)

    cases = _pytest_in_place(package)
    assert len(cases) >= 11
    assert all(len(case) == 0 for case in cases), [
        (case.get("name"), [child.get("message") for child in case]) for case in cases
    ]


def _pytest_in_place(package: Path) -> list[ElementTree.Element]:
    """The package's tests with this interpreter, the package importable from its folder (the
    kit takes the integration object itself, so nothing needs installing)."""
    report = package / "report.xml"
    subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", f"--junitxml={report}"],
        cwd=package,
        capture_output=True,
        env={**os.environ, "PYTHONPATH": str(package)},
    )
    return list(ElementTree.parse(report).getroot().iter("testcase"))
