"""Discovery as a user's machine sees it: real distributions installed into a real venv."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from patchwire.testing import Distribution, ThrowawayEnvironment

pytestmark = pytest.mark.slow

INTEGRATIONS = "patchwire.integrations"


def integration(name: str, body: str = "") -> Distribution:
    module = f"pw_{name.replace('-', '_')}"
    code = (
        body
        or f"""
        from patchwire import Integration, IntegrationDefinition
        integration = Integration(IntegrationDefinition(name="{name}", version="1.0.0"))
        """
    )
    return Distribution(
        name=f"acme-{name}",
        version="1.0.0",
        modules={module: code},
        entry_points={INTEGRATIONS: {name: f"{module}:integration"}},
    )


@pytest.fixture(scope="module")
def environment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ThrowawayEnvironment]:
    yield ThrowawayEnvironment(tmp_path_factory.mktemp("venv") / "env")


@pytest.fixture(scope="module")
def wheels(
    tmp_path_factory: pytest.TempPathFactory, environment: ThrowawayEnvironment
) -> dict[str, Path]:
    directory = tmp_path_factory.mktemp("wheels")
    built = {
        "late": integration("late"),
        "broken": integration("broken", 'raise ImportError("acme-broken needs libfoo 2")'),
        "good": integration("good"),
        "unmapped": integration(
            "unmapped",
            """
            from patchwire import IntegrationDefinition, implements
            from patchwire.interfaces.hitl import definition as hitl
            integration = IntegrationDefinition(
                name="unmapped", version="1.0.0",
                implements=[implements(hitl, entities={"hitlSession": "ticket"})])
            """,
        ),
        "lazy": integration(
            "lazy",
            """
            from patchwire import Integration, IntegrationDefinition, implements, EntityDefinition
            from patchwire.interfaces.hitl import HitlSession, definition as hitl
            integration = Integration(IntegrationDefinition(
                name="lazy", version="1.0.0",
                entities={"ticket": EntityDefinition(model=HitlSession)},
                implements=[implements(hitl, entities={"hitlSession": "ticket"})]))
            """,
        ),
    }
    return {key: environment.build_wheel(dist, directory) for key, dist in built.items()}


def listed(environment: ThrowawayEnvironment) -> dict[str, object]:
    result = environment.run("list", "--json")
    assert result.returncode == 0, result.stderr
    return dict(json.loads(result.stdout))


def names(entries: object) -> list[str]:
    assert isinstance(entries, list)
    return sorted(entry["name"] for entry in entries)


def agent(tmp_path: Path, alias: str, name: str) -> Path:
    """An agent using one integration, with agent code that handles nothing."""
    (tmp_path / "agent.toml").write_text(
        f'name = "probe"\n[integrations]\n{alias} = "{name}@latest"\n'
    )
    (tmp_path / "agent.py").write_text("")
    return tmp_path


def test_installed_after_the_fact_then_uninstalled(
    environment: ThrowawayEnvironment, wheels: dict[str, Path], tmp_path: Path
) -> None:
    assert "late" not in names(listed(environment)["integrations"])
    environment.install(wheels["late"])
    assert "late" in names(listed(environment)["integrations"])
    assert environment.run("check", str(agent(tmp_path, "late", "late"))).returncode == 0
    environment.uninstall("acme-late")
    assert "late" not in names(listed(environment)["integrations"])
    gone = environment.run("check", str(tmp_path))
    assert gone.returncode == 1
    assert "not-installed integrations.late.version" in gone.stdout


def test_a_broken_package_is_reported_while_the_others_work(
    environment: ThrowawayEnvironment, wheels: dict[str, Path], tmp_path: Path
) -> None:
    environment.install(wheels["broken"])
    environment.install(wheels["good"])
    report = listed(environment)
    broken = {entry["name"]: entry for entry in report["broken"]}  # type: ignore[attr-defined]
    assert broken["broken"]["distribution"] == "acme-broken"
    assert broken["broken"]["version"] == "1.0.0"
    assert "ImportError: acme-broken needs libfoo 2" in broken["broken"]["reason"]
    assert "good" in names(report["integrations"])
    assert environment.run("check", str(agent(tmp_path, "good", "good"))).returncode == 0
    failed = environment.run("check", str(agent(tmp_path, "broken", "broken")))
    assert failed.returncode == 1
    assert "broken-package" in failed.stdout and "acme-broken" in failed.stdout


def test_definition_errors_name_the_distribution(
    environment: ThrowawayEnvironment, wheels: dict[str, Path]
) -> None:
    environment.install(wheels["unmapped"])
    environment.install(wheels["lazy"])
    broken = {entry["name"]: entry for entry in listed(environment)["broken"]}  # type: ignore[attr-defined]
    assert broken["unmapped"]["distribution"] == "acme-unmapped"
    assert "'ticket', which this integration does not define" in broken["unmapped"]["reason"]
    assert "action 'start_hitl' is defined but has no handler" in broken["lazy"]["reason"]
    assert "channel 'hitl' message type 'text' has no sender" in broken["lazy"]["reason"]


def test_two_distributions_with_one_name_are_both_named(
    environment: ThrowawayEnvironment, tmp_path: Path
) -> None:
    for dist in ("acme-twin-a", "acme-twin-b"):
        environment.write(
            Distribution(
                name=dist,
                version="2.0.0" if dist.endswith("b") else "1.0.0",
                modules={dist.replace("-", "_"): "integration = None\n"},
                entry_points={INTEGRATIONS: {"twin": f"{dist.replace('-', '_')}:integration"}},
            )
        )
    duplicates = listed(environment)["duplicates"]
    assert {
        "kind": "integration",
        "name": "twin",
        "providers": ["acme-twin-a==1.0.0", "acme-twin-b==2.0.0"],
    } in duplicates  # type: ignore[operator]
    result = environment.run("check", str(agent(tmp_path, "twin", "twin")))
    assert result.returncode == 1
    assert "duplicate-package" in result.stdout
    assert "acme-twin-a==1.0.0" in result.stdout and "acme-twin-b==2.0.0" in result.stdout


def test_packages_exiting_or_interrupting_at_import_are_named_as_broken(
    environment: ThrowawayEnvironment, tmp_path: Path
) -> None:
    exits = integration("exits", "import sys\nsys.exit(3)\n")
    interrupts = integration("interrupts", "raise KeyboardInterrupt\n")
    environment.write(exits)
    environment.write(interrupts)
    report = listed(environment)
    broken = {entry["name"]: entry for entry in report["broken"]}  # type: ignore[attr-defined]
    assert broken["exits"] == {
        "kind": "integration",
        "name": "exits",
        "distribution": "acme-exits",
        "version": "1.0.0",
        "reason": "SystemExit: 3",
    }
    assert broken["interrupts"]["reason"] == "KeyboardInterrupt"
    assert "chat" in names(report["integrations"])
    folder = agent(tmp_path, "exits", "exits")
    result = environment.run("check", str(folder))
    assert result.returncode == 1, result.stderr
    assert result.stdout.splitlines() == [
        f"{folder / 'agent.toml'}: broken-package integrations.exits.version: integration "
        "'exits' from acme-exits==1.0.0 cannot be loaded: SystemExit: 3 (pip install --upgrade "
        "acme-exits, or uninstall it; PATCHWIRE_STRICT_LOADING=1 shows the full error)",
        f"{folder / 'agent.toml'}: 1 problem",
    ]
