from __future__ import annotations

from typing import Any

import pytest
from pydantic import Field

from patchwire import (
    Catalog,
    ConfigError,
    EntityDefinition,
    EntryPointRecord,
    Integration,
    IntegrationDefinition,
    InterfaceDefinition,
    PluginDefinition,
    WireModel,
    define_config,
    implements,
)
from patchwire._discovery import installed
from patchwire._resolver import check, resolve, run
from patchwire.interfaces.hitl import definition as hitl


class Ticket(WireModel):
    priority: str | None = None


class DeskConfiguration(WireModel):
    subdomain: str = Field(min_length=1)
    client_id: str
    retries: int = Field(default=3, ge=0)


class HandoffConfiguration(WireModel):
    timeout_seconds: int = Field(default=60, ge=0)


old_hitl = InterfaceDefinition(
    name="hitl", version="1.4.0", entities={"hitlSession": EntityDefinition(model=Ticket)}
)
survey = InterfaceDefinition(name="survey", version="1.0.0")

desk = IntegrationDefinition(
    name="desk",
    version="0.3.0",
    configuration=DeskConfiguration,
    entities={"hitlTicket": EntityDefinition(model=Ticket)},
    implements=[
        implements(hitl, entities={"hitlSession": "hitlTicket"}),
        implements(survey),
    ],
)
old_desk = IntegrationDefinition(
    name="old-desk",
    version="1.0.0",
    entities={"hitlTicket": EntityDefinition(model=Ticket)},
    implements=[implements(old_hitl, entities={"hitlSession": "hitlTicket"})],
)
twin = IntegrationDefinition(
    name="twin",
    version="1.0.0",
    entities={"a": EntityDefinition(model=Ticket), "b": EntityDefinition(model=Ticket)},
    implements=[
        implements(hitl, entities={"hitlSession": "a"}),
        implements(hitl, entities={"hitlSession": "b"}),
    ],
)
chat = Integration(IntegrationDefinition(name="chat", version="2.0.0"))
handoff = PluginDefinition(
    name="handoff",
    version="0.5.0",
    configuration=HandoffConfiguration,
    requires={"hitl": "hitl>=2,<3"},
)
ENV = {"DESK_CLIENT_ID": "id-123"}
DESK = {"version": "desk@latest", "config": {"subdomain": "acme", "clientId": "${DESK_CLIENT_ID}"}}


def catalog() -> Catalog:
    return Catalog.from_objects(
        interfaces=[hitl], integrations=[desk, old_desk, twin, chat], plugins=[handoff]
    )


def agent(integrations: dict[str, Any] | None = None, plugins: dict[str, Any] | None = None) -> Any:
    return define_config(
        name="support",
        integrations={"desk": DESK} if integrations is None else integrations,
        plugins={
            "handoff": {
                "version": "handoff@latest",
                "dependencies": {
                    "hitl": {
                        "integrationAlias": "desk",
                        "integrationInterfaceAlias": "hitl<hitlTicket>",
                    }
                },
            }
        }
        if plugins is None
        else plugins,
    )


def lines(config: Any, environ: dict[str, str] | None = None) -> list[str]:
    return [
        str(problem) for problem in check(config, catalog(), ENV if environ is None else environ)
    ]


def test_a_clean_agent_resolves_to_records() -> None:
    resolved = resolve(agent(), catalog(), ENV)
    assert resolved.name == "support"
    desk_entry = resolved.integrations["desk"]
    assert desk_entry.config == DeskConfiguration(subdomain="acme", client_id="id-123")
    assert desk_entry.record.version == "0.3.0"
    assert desk_entry.runnable is False
    binding = resolved.plugins["handoff"].bindings["hitl"]
    assert (binding.requirement_alias, binding.integration_alias) == ("hitl", "desk")
    assert binding.implementation.key == "hitl<hitlTicket>"
    assert resolved.plugins["handoff"].config == HandoffConfiguration()


def test_implementation_key_may_be_left_out_when_there_is_one_choice() -> None:
    config = agent(
        plugins={
            "handoff": {
                "version": "handoff@latest",
                "dependencies": {"hitl": {"integrationAlias": "desk"}},
            }
        }
    )
    binding = resolve(config, catalog(), ENV).plugins["handoff"].bindings["hitl"]
    assert binding.implementation.key == "hitl<hitlTicket>"


def test_definition_only_packages_are_notes_not_problems() -> None:
    resolution = run(agent(integrations={"desk": DESK, "chat": "chat@2.0.0"}), catalog(), ENV)
    assert resolution.problems == []
    assert resolution.agent is not None
    assert resolution.agent.integrations["chat"].runnable is True
    assert [str(note) for note in resolution.notes] == [
        "definition-only integrations.desk: integration 'desk' (<test desk> 0.3.0) ships a "
        "definition only: the agent checks but cannot run until a release implements it",
        "definition-only plugins.handoff: plugin 'handoff' (<test handoff> 0.5.0) ships a "
        "definition only: the agent checks but cannot run until a release implements it",
    ]


def test_resolve_raises_config_error_with_every_problem() -> None:
    config = define_config(name="X", integrations={"Desk": "desk@9"})
    with pytest.raises(ConfigError) as caught:
        resolve(config, catalog(), ENV)
    assert [problem.code for problem in caught.value.problems] == [
        "bad-name",
        "bad-alias",
        "version-mismatch",
        "config-invalid",
        "config-invalid",
    ]
    assert "5 problem(s) in the agent configuration" in str(caught.value)


def test_bad_alias() -> None:
    assert lines(agent(integrations={"desk": DESK, "My Chat": "chat@latest"})) == [
        "bad-alias integrations.\"My Chat\": 'My Chat' is not a valid integration alias (2-64 "
        "characters: lowercase letters, digits, '-' or '_', starting with a letter, e.g. "
        "'my-chat')"
    ]


def test_bad_version() -> None:
    assert lines(agent(integrations={"desk": DESK, "chat": "chat@newest"})) == [
        "bad-version integrations.chat.version: 'newest' in 'chat@newest' is neither a version "
        "nor a range (write integration-name@X.Y.Z, integration-name@latest or a PEP 440 range "
        "such as integration-name@>=0.1,<1)"
    ]


def test_not_installed_suggests_an_installed_name_else_the_pip_command() -> None:
    assert lines(agent(integrations={"desk": DESK, "sf": "salesforce@latest"})) == [
        "not-installed integrations.sf.version: no installed integration is named 'salesforce' "
        "(installed: chat, desk, old-desk, twin) (pip install patchwire-salesforce (a guess from "
        "the patchwire-<name> naming convention; check the package's documentation))"
    ]
    assert lines(agent(integrations={"desk": DESK, "chats": "chta@latest"})) == [
        "not-installed integrations.chats.version: no installed integration is named 'chta' "
        "(installed: chat, desk, old-desk, twin) (did you mean 'chat'?)"
    ]


def test_a_plugin_named_as_an_integration_says_where_it_belongs() -> None:
    assert lines(agent(integrations={"desk": DESK, "handoff": "handoff@latest"})) == [
        "not-installed integrations.handoff.version: no installed integration is named "
        "'handoff' (installed: chat, desk, old-desk, twin) ('handoff' is an installed plugin: "
        "move it to [plugins])"
    ]


def test_version_mismatch_names_both_versions() -> None:
    assert lines(agent(integrations={"desk": {**DESK, "version": "desk@>=1,<2"}})) == [
        "version-mismatch integrations.desk.version: integration 'desk' is installed as "
        "<test desk> 0.3.0, which does not satisfy 'desk@>=1,<2' (pip install '<test desk><2,>=1', "
        "or pin what is installed: desk@0.3.0)"
    ]


def test_duplicate_package_names_both_distributions() -> None:
    records = catalog()
    records.records["integration"]["chat"] = [
        EntryPointRecord("integration", "chat", "a_chat:integration", "a-chat", "1.0"),
        EntryPointRecord("integration", "chat", "b_chat:integration", "b-chat", "2.0"),
    ]
    problems = check(agent(integrations={"desk": DESK, "chat": "chat@latest"}), records, ENV)
    assert [str(problem) for problem in problems] == [
        "duplicate-package integrations.chat.version: 2 installed distributions provide the "
        "integration 'chat': a-chat==1.0 (a_chat:integration), b-chat==2.0 (b_chat:integration) "
        "(uninstall all but one: pip uninstall a-chat or pip uninstall b-chat)"
    ]


def test_broken_package_gives_the_reason() -> None:
    records = catalog()
    records.records["integration"]["ghost"] = [
        EntryPointRecord(
            "integration", "ghost", "patchwire_no_such_module:integration", "patchwire-ghost", "1.0"
        )
    ]
    problems = check(agent(integrations={"desk": DESK, "ghost": "ghost@latest"}), records, ENV)
    assert [str(problem) for problem in problems] == [
        "broken-package integrations.ghost.version: integration 'ghost' from "
        "patchwire-ghost==1.0 cannot be loaded: ModuleNotFoundError: No module named "
        "'patchwire_no_such_module' (pip install --upgrade patchwire-ghost, or uninstall it; "
        "PATCHWIRE_STRICT_LOADING=1 shows the full error)"
    ]


def test_unknown_integration_alias_lists_the_declared_ones() -> None:
    config = agent(
        plugins={
            "handoff": {
                "version": "handoff@latest",
                "dependencies": {"hitl": {"integrationAlias": "dsek"}},
            }
        }
    )
    assert lines(config) == [
        "unknown-integration-alias plugins.handoff.dependencies.hitl.integrationAlias: "
        "integration alias 'dsek' is not declared in [integrations] (did you mean 'desk'? "
        "declared aliases: desk)"
    ]


def test_unknown_integration_alias_with_nothing_declared() -> None:
    assert lines(agent(integrations={})) == [
        "unknown-integration-alias plugins.handoff.dependencies.hitl.integrationAlias: "
        "integration alias 'desk' is not declared in [integrations] (no integration is "
        "declared: add one to [integrations])"
    ]


def test_disabled_integration_cannot_be_bound() -> None:
    assert lines(agent(integrations={"desk": {**DESK, "enabled": False}})) == [
        "disabled-integration plugins.handoff.dependencies.hitl.integrationAlias: integration "
        "'desk' is disabled (enabled = false) (set enabled = true in [integrations.desk] or bind "
        "another integration)"
    ]


def test_unknown_implementation_lists_the_offered_keys() -> None:
    config = agent(
        plugins={
            "handoff": {
                "version": "handoff@latest",
                "dependencies": {
                    "hitl": {
                        "integrationAlias": "desk",
                        "integrationInterfaceAlias": "hitl<hitlTiket>",
                    }
                },
            }
        }
    )
    assert lines(config) == [
        "unknown-implementation plugins.handoff.dependencies.hitl.integrationInterfaceAlias: "
        "integration 'desk' (desk) offers no implementation key 'hitl<hitlTiket>' (did you mean "
        "'hitl<hitlTicket>'? offered keys: hitl<hitlTicket>, survey)"
    ]


def test_interface_mismatch_when_the_key_names_another_interface() -> None:
    config = agent(
        plugins={
            "handoff": {
                "version": "handoff@latest",
                "dependencies": {
                    "hitl": {"integrationAlias": "desk", "integrationInterfaceAlias": "survey"}
                },
            }
        }
    )
    assert lines(config) == [
        "interface-mismatch plugins.handoff.dependencies.hitl.integrationInterfaceAlias: "
        "'survey' implements interface 'survey', but requirement 'hitl' of plugin 'handoff' "
        "needs 'hitl' (use hitl<hitlTicket>)"
    ]


def test_interface_mismatch_when_the_integration_lacks_the_interface() -> None:
    config = agent(
        integrations={"desk": DESK, "chat": "chat@latest"},
        plugins={
            "handoff": {
                "version": "handoff@latest",
                "dependencies": {"hitl": {"integrationAlias": "chat"}},
            }
        },
    )
    assert lines(config) == [
        "interface-mismatch plugins.handoff.dependencies.hitl.integrationAlias: integration "
        "'chat' (chat) does not implement interface 'hitl', which requirement 'hitl' of plugin "
        "'handoff' needs (bind an integration that implements 'hitl' (its keys: none: it "
        "implements no interface))"
    ]


def test_ambiguous_implementation_asks_for_the_key() -> None:
    config = agent(
        integrations={"twin": "twin@latest"},
        plugins={
            "handoff": {
                "version": "handoff@latest",
                "dependencies": {"hitl": {"integrationAlias": "twin"}},
            }
        },
    )
    assert lines(config) == [
        "ambiguous-implementation plugins.handoff.dependencies.hitl.integrationAlias: "
        "integration 'twin' (twin) implements interface 'hitl' more than once (set "
        "integrationInterfaceAlias to one of: hitl<a>, hitl<b>)"
    ]


def test_interface_version_outside_the_plugins_range_names_both_packages() -> None:
    config = agent(
        integrations={"old": "old-desk@1.0.0"},
        plugins={
            "handoff": {
                "version": "handoff@latest",
                "dependencies": {
                    "hitl": {
                        "integrationAlias": "old",
                        "integrationInterfaceAlias": "hitl<hitlTicket>",
                    }
                },
            }
        },
    )
    assert lines(config) == [
        "interface-version plugins.handoff.dependencies.hitl.integrationInterfaceAlias: plugin "
        "'handoff' (<test handoff> 0.5.0) requires hitl<3,>=2, but integration 'old-desk' "
        "(<test old-desk> 1.0.0) implements hitl 1.4.0 (install a release of <test old-desk> "
        "built on hitl<3,>=2, or a release of <test handoff> that accepts hitl 1.4.0)"
    ]


def test_config_rejected_by_the_package_schema_gives_field_path_and_reason() -> None:
    config = agent(
        integrations={
            "desk": {"version": "desk@latest", "config": {"subdomian": "x", "retries": -1}}
        },
        plugins={
            "handoff": {
                "version": "handoff@latest",
                "config": {"timeout_seconds": "soon"},
                "dependencies": {"hitl": {"integrationAlias": "desk"}},
            }
        },
    )
    assert lines(config) == [
        "config-invalid integrations.desk.config.subdomain: required key 'subdomain' is missing "
        "(add it)",
        "config-invalid integrations.desk.config.clientId: required key 'clientId' is missing "
        "(add it)",
        "config-invalid integrations.desk.config.retries: Input should be greater than or equal "
        "to 0 (got -1)",
        "config-invalid integrations.desk.config.subdomian: unknown key 'subdomian' (did you mean "
        "'subdomain'? accepted keys: subdomain, clientId, retries)",
        "config-invalid plugins.handoff.config.timeout_seconds: Input should be a valid integer, "
        "unable to parse string as an integer (got 'soon')",
    ]


def test_unset_variable_is_reported_once_where_it_is_used() -> None:
    assert lines(agent(), environ={}) == [
        "env-unset integrations.desk.config.clientId: environment variable DESK_CLIENT_ID is not "
        "set (set it (export DESK_CLIENT_ID=...) or give a default: ${DESK_CLIENT_ID:-value})"
    ]


def test_database_url_is_interpolated() -> None:
    config = define_config(name="support", database_url="postgresql://${DB_HOST:-localhost}/x")
    assert resolve(config, catalog(), {}).database_url == "postgresql://localhost/x"
    config = define_config(name="support", database_url="postgresql://${DB_HOST}/x")
    assert [problem.location for problem in check(config, catalog(), {})] == ["database_url"]


def test_unbound_requirement_suggests_a_binding() -> None:
    config = agent(plugins={"handoff": {"version": "handoff@latest"}})
    assert lines(config) == [
        "unbound-requirement plugins.handoff.dependencies: requirement 'hitl' (hitl<3,>=2) of "
        "plugin 'handoff' is not bound to an integration (add dependencies.hitl = { "
        'integrationAlias = "desk", integrationInterfaceAlias = "hitl<hitlTicket>" })'
    ]


def test_unbound_requirement_without_a_candidate() -> None:
    config = agent(integrations={}, plugins={"handoff": {"version": "handoff@latest"}})
    assert lines(config)[0].endswith(
        "(add an integration that implements 'hitl' to [integrations] and bind it: "
        'dependencies.hitl = { integrationAlias = "<alias>", integrationInterfaceAlias = '
        '"hitl<...>" })'
    )


def test_unknown_requirement() -> None:
    config = agent(
        plugins={
            "handoff": {
                "version": "handoff@latest",
                "dependencies": {
                    "hitl": {"integrationAlias": "desk"},
                    "hitll": {"integrationAlias": "desk"},
                },
            }
        }
    )
    assert lines(config) == [
        "unknown-requirement plugins.handoff.dependencies.hitll: plugin 'handoff' has no "
        "requirement named 'hitll' (did you mean 'hitl'? its requirements: hitl)"
    ]


def test_every_problem_is_reported_in_one_run() -> None:
    config = define_config(
        name="support",
        integrations={"Bad": "nothing@latest", "desk": {"version": "desk@9", "config": {}}},
        plugins={
            "handoff": {
                "version": "handoff@latest",
                "config": {"timeoutSeconds": -5},
                "dependencies": {
                    "hitl": {"integrationAlias": "nope"},
                    "extra": {"integrationAlias": "desk"},
                },
            }
        },
    )
    codes = [problem.code for problem in check(config, catalog(), {})]
    assert codes == [
        "bad-alias",
        "not-installed",
        "version-mismatch",
        "config-invalid",
        "config-invalid",
        "config-invalid",
        "unknown-integration-alias",
        "unknown-requirement",
    ]


def test_check_imports_only_what_the_config_names() -> None:
    catalog_ = catalog()
    catalog_.records["integration"]["ghost"] = [
        EntryPointRecord("integration", "ghost", "patchwire_no_such_module:x", "ghost", "1.0")
    ]
    assert check(agent(), catalog_, ENV) == []
    assert catalog_.failures == []


def test_the_installed_hitl_packages_resolve() -> None:
    config = define_config(
        name="support-agent",
        integrations={
            "hitl": {
                "version": "generic-hitl@latest",
                "config": {
                    "endpointBaseUrl": "http://127.0.0.1:1",
                    "signingSecret": "sixteen-characters-at-least",
                },
            }
        },
        plugins={
            "hitl": {
                "version": "hitl@>=0.1,<1",
                "config": {"agentAssignedTimeoutSeconds": 100},
                "dependencies": {
                    "hitl": {
                        "integrationAlias": "hitl",
                        "integrationInterfaceAlias": "hitl<hitlSession>",
                    }
                },
            }
        },
    )
    resolution = run(config, installed(), {})
    assert resolution.problems == []
    assert resolution.agent is not None
    assert resolution.agent.integrations["hitl"].record.distribution == "patchwire-generic-hitl"
    assert (
        resolution.agent.plugins["hitl"].bindings["hitl"].implementation.interface.version
        == "2.1.0"
    )
    assert resolution.notes == []


def test_a_rejected_value_from_the_environment_is_shown_as_its_reference() -> None:
    config = agent(
        integrations={
            "desk": {
                "version": "desk@latest",
                "config": {"subdomain": "acme", "clientId": "id", "retries": "${DESK_RETRIES}"},
            }
        }
    )
    [line] = lines(config, environ={"DESK_RETRIES": "s3cret-value"})
    assert line == (
        "config-invalid integrations.desk.config.retries: Input should be a valid integer, unable "
        "to parse string as an integer (got '${DESK_RETRIES}')"
    )


def test_an_implementation_key_is_checked_even_when_the_integration_config_is_invalid() -> None:
    config = agent(
        integrations={"desk": {"version": "desk@latest", "config": {"subdomain": "acme"}}},
        plugins={
            "handoff": {
                "version": "handoff@latest",
                "dependencies": {
                    "hitl": {"integrationAlias": "desk", "integrationInterfaceAlias": "hitl<tick>"}
                },
            }
        },
    )
    assert lines(config) == [
        "config-invalid integrations.desk.config.clientId: required key 'clientId' is missing "
        "(add it)",
        "unknown-implementation plugins.handoff.dependencies.hitl.integrationInterfaceAlias: "
        "integration 'desk' (desk) offers no implementation key 'hitl<tick>' (did you mean "
        "'hitl<hitlTicket>'? offered keys: hitl<hitlTicket>, survey)",
    ]
