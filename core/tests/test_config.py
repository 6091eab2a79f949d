from __future__ import annotations

from pathlib import Path

import pytest

from patchwire import (
    AgentConfig,
    ConfigError,
    IntegrationEntry,
    PluginDependency,
    define_config,
    load_config,
)
from patchwire._config import PackageRef, alias_problem, dotted

FULL = """
name = "my-agent"
database_url = "sqlite+aiosqlite:///agent.db"

[integrations]
chat = "chat@latest"

[integrations.zendesk]
version = "zendesk@>=0.1,<1"
enabled = false
config = { subdomain = "acme", clientId = "${ZENDESK_CLIENT_ID}" }

[plugins.hitl]
version = "hitl@1.2.3"
config = { agentAssignedTimeoutSeconds = 100 }
dependencies.hitl = { integrationAlias = "chat", integrationInterfaceAlias = "hitl<hitlSession>" }
dependencies.other = { integration_alias = "zendesk", integration_interface_alias = "x" }
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "agent.toml"
    path.write_text(text, encoding="utf-8")
    return path


def problems_of(text: str, tmp_path: Path) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load_config(write(tmp_path, text))
    return [str(problem) for problem in caught.value.problems]


def test_short_and_long_forms_and_both_spellings(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, FULL))
    assert config.name == "my-agent"
    assert config.database_url == "sqlite+aiosqlite:///agent.db"
    assert config.integrations["chat"] == IntegrationEntry(version="chat@latest")
    zendesk = config.integrations["zendesk"]
    assert zendesk.enabled is False
    assert zendesk.config == {"subdomain": "acme", "clientId": "${ZENDESK_CLIENT_ID}"}
    hitl = config.plugins["hitl"]
    assert hitl.version == "hitl@1.2.3"
    assert hitl.dependencies["hitl"] == PluginDependency(
        integration_alias="chat", integration_interface_alias="hitl<hitlSession>"
    )
    assert hitl.dependencies["other"].integration_alias == "zendesk"


def test_folder_path_reads_its_agent_toml_and_module_is_relative_to_it(tmp_path: Path) -> None:
    write(tmp_path, 'name = "x1"\nmodule = "bot.py"\n')
    config = load_config(tmp_path)
    assert config.directory == tmp_path.resolve()
    assert config.module_path == tmp_path.resolve() / "bot.py"
    assert load_config(tmp_path / "agent.toml").module == "bot.py"


def test_define_config_builds_the_same_model_as_the_file(tmp_path: Path) -> None:
    from_file = load_config(write(tmp_path, FULL))
    in_python = define_config(
        name="my-agent",
        database_url="sqlite+aiosqlite:///agent.db",
        integrations={
            "chat": "chat@latest",
            "zendesk": {
                "version": "zendesk@>=0.1,<1",
                "enabled": False,
                "config": {"subdomain": "acme", "clientId": "${ZENDESK_CLIENT_ID}"},
            },
        },
        plugins={
            "hitl": {
                "version": "hitl@1.2.3",
                "config": {"agentAssignedTimeoutSeconds": 100},
                "dependencies": {
                    "hitl": {
                        "integrationAlias": "chat",
                        "integrationInterfaceAlias": "hitl<hitlSession>",
                    },
                    "other": {"integration_alias": "zendesk", "integration_interface_alias": "x"},
                },
            }
        },
    )
    assert isinstance(in_python, AgentConfig)
    assert in_python.model_dump() == from_file.model_dump()
    assert in_python.directory is None


def test_define_config_reports_structural_problems() -> None:
    with pytest.raises(ConfigError) as caught:
        define_config(name="x1", plugins={"hitl": {"versoin": "hitl@latest"}})
    assert [str(problem) for problem in caught.value.problems] == [
        "missing-key plugins.hitl.version: required key 'version' is missing (add it)",
        "unknown-key plugins.hitl.versoin: unknown key 'versoin' (did you mean 'version'? "
        "accepted keys: version, config, dependencies)",
    ]


def test_toml_syntax_error_names_line_and_column(tmp_path: Path) -> None:
    assert problems_of('name = "x"\n[integrations]\nchat "chat@latest"\n', tmp_path) == [
        "toml-syntax line 3, column 6: expected '=' after a key in a key/value pair "
        "(fix the TOML at that position (https://toml.io/en/v1.0.0))"
    ]


def test_non_utf8_file_is_a_clear_problem(tmp_path: Path) -> None:
    (tmp_path / "agent.toml").write_bytes(b'name = "\xff"\n')
    with pytest.raises(ConfigError) as caught:
        load_config(tmp_path)
    (problem,) = caught.value.problems
    assert (problem.code, problem.message) == ("toml-syntax", "the file is not UTF-8 text")


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(tmp_path)
    (problem,) = caught.value.problems
    assert problem.code == "no-config"
    assert problem.location == str(tmp_path / "agent.toml")
    assert "patchwire init" in problem.hint


def test_every_structural_problem_at_once_in_the_users_spelling(tmp_path: Path) -> None:
    text = """
database_url = 3
[integrations]
bad = 3
[integrations.zd]
version = "zendesk@1.0.0"
confg = {}
[plugins.hitl]
version = "hitl@latest"
dependencies.hitl = { integration_alias = "zd", integrationInterfaceAlas = "x" }
"""
    assert problems_of(text, tmp_path) == [
        "missing-key name: required key 'name' is missing (add it)",
        "bad-value database_url: Input should be a valid string (got 3)",
        'bad-value integrations.bad: expected a version string such as "zendesk@latest" or a '
        "table with version, config and enabled, got int",
        "unknown-key integrations.zd.confg: unknown key 'confg' (did you mean 'config'? "
        "accepted keys: version, config, enabled)",
        "unknown-key plugins.hitl.dependencies.hitl.integrationInterfaceAlas: unknown key "
        "'integrationInterfaceAlas' (did you mean 'integrationInterfaceAlias'? accepted keys: "
        "integrationAlias, integrationInterfaceAlias)",
    ]


@pytest.mark.parametrize(
    ("text", "name", "accepted", "rejected"),
    [
        ("zendesk@1.2.3", "zendesk", ["1.2.3"], ["1.2.4", "1.2.3rc1"]),
        ("zendesk@latest", "zendesk", ["0.0.1", "9.0.0rc1"], []),
        ("zendesk@>=0.1,<1", "zendesk", ["0.1.0", "0.9.9", "0.5.0rc1"], ["1.0.0", "0.0.9"]),
        ("generic-hitl@~=2.1", "generic-hitl", ["2.1.0", "2.9"], ["3.0", "not a version"]),
    ],
)
def test_package_refs(text: str, name: str, accepted: list[str], rejected: list[str]) -> None:
    ref = PackageRef.parse(text)
    assert ref.name == name
    assert all(ref.accepts(version) for version in accepted)
    assert not any(ref.accepts(version) for version in rejected)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("zendesk", "'zendesk' is not a package version"),
        ("@1.0.0", "'@1.0.0' is not a package version"),
        ("zendesk@", "'zendesk@' is not a package version"),
        ("zendesk@newest", "'newest' in 'zendesk@newest' is neither a version nor a range"),
    ],
)
def test_bad_package_refs(text: str, message: str) -> None:
    with pytest.raises(ValueError, match="^" + message.replace("(", r"\(") + "$"):
        PackageRef.parse(text)


def test_alias_rules() -> None:
    assert alias_problem("zendesk_2", "integrations.zendesk_2", "integration alias") is None
    problem = alias_problem("Zendesk.EU", "x", "integration alias")
    assert problem is not None
    assert str(problem) == (
        "bad-alias x: 'Zendesk.EU' is not a valid integration alias (2-64 characters: lowercase "
        "letters, digits, '-' or '_', starting with a letter, e.g. 'zendesk-eu')"
    )
    assert alias_problem("z", "x", "plugin alias") is not None
    assert alias_problem("a" * 65, "x", "plugin alias") is not None
    assert alias_problem("9lives", "x", "plugin alias") is not None


def test_dotted_quotes_keys_that_need_it() -> None:
    assert dotted(["plugins", "hitl", "config", "odd key", 0]) == 'plugins.hitl.config."odd key"[0]'
