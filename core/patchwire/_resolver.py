"""Resolution: agent.toml plus the installed packages give a ResolvedAgent, or every problem.

Nothing runs here: packages the config names are imported (their definitions are data) and
nothing else is, so ``patchwire check`` is as fast and side-effect free as an import.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from pydantic import BaseModel, ValidationError

from patchwire._config import (
    AgentConfig,
    PackageRef,
    PluginDependency,
    PluginEntry,
    alias_problem,
    did_you_mean,
    dotted,
    public_url_problem,
    validation_problems,
)
from patchwire._definitions import (
    IntegrationDefinition,
    InterfaceImplementation,
    InterfaceRequirement,
    PluginDefinition,
)
from patchwire._discovery import (
    Catalog,
    DuplicatePackageError,
    EntryPointRecord,
    PackageNotFoundError,
    installed,
)
from patchwire._errors import ConfigError, PackageLoadError
from patchwire._interpolation import interpolate
from patchwire._model_providers import resolve_model
from patchwire._packages import Integration, Plugin
from patchwire._problems import Problem
from patchwire._resolved import ResolvedAgent, ResolvedBinding, ResolvedIntegration, ResolvedPlugin

__all__ = ["Resolution", "check", "resolve", "run"]

Section = Literal["integration", "plugin"]


@dataclass
class Resolution:
    """What resolving found: problems (fatal), notes (informative) and, when clean, the agent."""

    problems: list[Problem] = field(default_factory=list)
    notes: list[Problem] = field(default_factory=list)
    agent: ResolvedAgent | None = None
    channels: dict[str, list[str]] = field(default_factory=dict)
    """The channels of every enabled integration whose package loaded, by alias, even when its
    configuration is invalid: agent code is checked against them in the same run."""


def run(
    config: AgentConfig,
    catalog: Catalog | None = None,
    environ: Mapping[str, str] | None = None,
) -> Resolution:
    """Resolve ``config``, collecting every problem and note instead of stopping at the first."""
    return _Resolver(
        config, catalog or installed(), os.environ if environ is None else environ
    ).run()


def check(
    config: AgentConfig,
    catalog: Catalog | None = None,
    environ: Mapping[str, str] | None = None,
) -> list[Problem]:
    """Every problem of ``config`` against the installed packages; empty when it resolves."""
    return run(config, catalog, environ).problems


def resolve(
    config: AgentConfig,
    catalog: Catalog | None = None,
    environ: Mapping[str, str] | None = None,
) -> ResolvedAgent:
    """The resolved agent; raises ConfigError carrying every problem."""
    resolution = run(config, catalog, environ)
    if resolution.agent is None:
        raise ConfigError(resolution.problems)
    return resolution.agent


def _not_installed_hint(name: str, available: list[str]) -> str:
    """An installed name close to ``name``, else a guess at the distribution to install."""
    close = did_you_mean(name, available)
    if close:
        return close.strip()
    return (
        f"pip install patchwire-{name} (a guess from the patchwire-<name> naming convention; "
        "check the package's documentation)"
    )


def _described(record: EntryPointRecord) -> str:
    return f"{record.distribution} {record.version}"


class _Resolver:
    def __init__(self, config: AgentConfig, catalog: Catalog, environ: Mapping[str, str]) -> None:
        self.config = config
        self.catalog = catalog
        self.environ = environ
        self.result = Resolution()
        self.loaded: dict[str, tuple[EntryPointRecord, IntegrationDefinition]] = {}
        """Enabled integrations whose package loaded, valid configuration or not."""

    def problem(self, code: str, location: str, message: str, hint: str = "") -> None:
        self.result.problems.append(Problem(code, location, message, hint))

    def run(self) -> Resolution:
        config = self.config
        found = alias_problem(config.name, "name", "agent name", code="bad-name")
        if found is not None:
            self.result.problems.append(found)
        database_url = self.substituted(config.database_url, ["database_url"])
        public_url = (self.substituted(config.public_url, ["public_url"]) or "").rstrip("/")
        if public_url:
            wrong = public_url_problem(public_url)
            if wrong is not None:
                self.problem(
                    "bad-public-url",
                    "public_url",
                    wrong,
                    "the address outside systems reach this agent at; they post to "
                    "<public_url>/webhooks/<alias>",
                )
        model = None
        if config.model is not None:
            model, problems = resolve_model(config.model, self.environ)
            self.result.problems += problems
        integrations = {
            alias: integration
            for alias, entry in config.integrations.items()
            if (integration := self.integration(alias, entry.version, entry.config, entry.enabled))
        }
        plugins = {
            alias: plugin
            for alias, entry in config.plugins.items()
            if (plugin := self.plugin(alias, entry))
        }
        if not self.result.problems:
            self.result.agent = ResolvedAgent(
                name=config.name,
                directory=config.directory,
                integrations=integrations,
                plugins=plugins,
                module=config.module_path,
                database_url=database_url,
                public_url=public_url or None,
                model=model,
                runtime=config.runtime,
            )
        return self.result

    def substituted(self, value: str | None, path: list[str | int]) -> str | None:
        if value is None:
            return None
        text, problems = interpolate(value, self.environ, path)
        self.result.problems += problems
        return str(text)

    def integration(
        self, alias: str, version: str, config: dict[str, object], enabled: bool
    ) -> ResolvedIntegration | None:
        location = dotted(["integrations", alias])
        count = len(self.result.problems)
        found = alias_problem(alias, location, "integration alias")
        if found is not None:
            self.result.problems.append(found)
        if not enabled:
            self.package_ref("integration", version, location)
            return None
        loaded = self.package("integration", alias, version)
        if loaded is None:
            return None
        record, package = loaded
        assert isinstance(package, Integration | IntegrationDefinition)
        definition = package.definition if isinstance(package, Integration) else package
        self.loaded[alias] = (record, definition)
        self.result.channels[alias] = list(definition.all_channels)
        validated = self.package_config(definition.configuration, config, ["integrations", alias])
        if validated is None or len(self.result.problems) > count:
            return None
        return ResolvedIntegration(alias=alias, record=record, package=package, config=validated)

    def plugin(self, alias: str, entry: PluginEntry) -> ResolvedPlugin | None:
        location = dotted(["plugins", alias])
        count = len(self.result.problems)
        found = alias_problem(alias, location, "plugin alias")
        if found is not None:
            self.result.problems.append(found)
        loaded = self.package("plugin", alias, entry.version)
        if loaded is None:
            return None
        record, package = loaded
        assert isinstance(package, Plugin | PluginDefinition)
        definition = package.definition if isinstance(package, Plugin) else package
        validated = self.package_config(definition.configuration, entry.config, ["plugins", alias])
        bindings = self.bindings(alias, record, definition, entry)
        if validated is None or len(self.result.problems) > count:
            return None
        return ResolvedPlugin(
            alias=alias, record=record, package=package, config=validated, bindings=bindings
        )

    def package_ref(self, kind: Section, text: str, location: str) -> PackageRef | None:
        try:
            return PackageRef.parse(text)
        except ValueError as error:
            self.problem(
                "bad-version",
                f"{location}.version",
                str(error),
                f"write {kind}-name@X.Y.Z, {kind}-name@latest or a PEP 440 range such as "
                f"{kind}-name@>=0.1,<1",
            )
            return None

    def package(
        self, kind: Section, alias: str, version: str
    ) -> tuple[EntryPointRecord, object] | None:
        """The installed package a version string names, checked against its pin."""
        location = dotted([f"{kind}s", alias])
        ref = self.package_ref(kind, version, location)
        if ref is None:
            return None
        try:
            record = self.catalog.record(kind, ref.name)
        except PackageNotFoundError as error:
            other: Section = "plugin" if kind == "integration" else "integration"
            if ref.name in self.catalog.records[other]:
                hint = f"{ref.name!r} is an installed {other}: move it to [{other}s]"
            else:
                hint = _not_installed_hint(ref.name, error.available)
            installed_names = ", ".join(error.available) or "none"
            self.problem(
                "not-installed",
                f"{location}.version",
                f"no installed {kind} is named {ref.name!r} (installed: {installed_names})",
                hint,
            )
            return None
        except DuplicatePackageError as error:
            pins = ", ".join(f"{item.pin} ({item.value})" for item in error.records)
            self.problem(
                "duplicate-package",
                f"{location}.version",
                f"{len(error.records)} installed distributions provide the {kind} "
                f"{ref.name!r}: {pins}",
                "uninstall all but one: "
                + " or ".join(f"pip uninstall {item.distribution}" for item in error.records),
            )
            return None
        if not ref.accepts(record.version):
            self.problem(
                "version-mismatch",
                f"{location}.version",
                f"{kind} {ref.name!r} is installed as {_described(record)}, which does not "
                f"satisfy {version!r}",
                f"pip install '{record.distribution}{ref.wanted}', or pin what is installed: "
                f"{ref.name}@{record.version}",
            )
        try:
            package = self.catalog.load(kind, ref.name)
        except PackageLoadError as error:
            self.problem(
                "broken-package",
                f"{location}.version",
                f"{kind} {ref.name!r} from {record.pin} cannot be loaded: {error.reason}",
                f"pip install --upgrade {record.distribution}, or uninstall it; "
                "PATCHWIRE_STRICT_LOADING=1 shows the full error",
            )
            return None
        if not isinstance(package, Integration | Plugin):
            self.result.notes.append(
                Problem(
                    "definition-only",
                    location,
                    f"{kind} {ref.name!r} ({_described(record)}) ships a definition only: "
                    "the agent checks but cannot run until a release implements it",
                )
            )
        return record, package

    def package_config(
        self, model: type[BaseModel], config: dict[str, object], path: list[str | int]
    ) -> BaseModel | None:
        """The package's configuration model, validated from the ``${VAR}``-substituted table."""
        path = [*path, "config"]
        values, unset = interpolate(config, self.environ, path)
        self.result.problems += unset
        try:
            return model.model_validate(values)
        except ValidationError as error:
            already = {problem.location for problem in unset}
            self.result.problems += [
                problem
                for problem in validation_problems(
                    error, raw=config, model=model, prefix=path, code="config-invalid"
                )
                if problem.location not in already
            ]
            return None

    def bindings(
        self,
        alias: str,
        record: EntryPointRecord,
        definition: PluginDefinition,
        entry: PluginEntry,
    ) -> dict[str, ResolvedBinding]:
        requires = definition.requires
        location = ["plugins", alias, "dependencies"]
        bindings: dict[str, ResolvedBinding] = {}
        for key, dependency in entry.dependencies.items():
            if key not in requires:
                self.problem(
                    "unknown-requirement",
                    dotted([*location, key]),
                    f"plugin {definition.name!r} has no requirement named {key!r}",
                    did_you_mean(key, requires)
                    + f"its requirements: {', '.join(requires) or 'none'}",
                )
                continue
            binding = self.binding(_Need(alias, key, requires[key], record, definition), dependency)
            if binding is not None:
                bindings[key] = binding
        for key, requirement in requires.items():
            if key not in entry.dependencies:
                self.problem(
                    "unbound-requirement",
                    dotted(location),
                    f"requirement {key!r} ({requirement}) of plugin {definition.name!r} is not "
                    "bound to an integration",
                    self.binding_suggestion(key, requirement),
                )
        return bindings

    def binding_suggestion(self, key: str, requirement: InterfaceRequirement) -> str:
        for integration_alias, (_, definition) in self.loaded.items():
            for implementation in definition.implements:
                if implementation.interface.name == requirement.interface:
                    return (
                        f'add dependencies.{key} = {{ integrationAlias = "{integration_alias}", '
                        f'integrationInterfaceAlias = "{implementation.key}" }}'
                    )
        return (
            f"add an integration that implements {requirement.interface!r} to [integrations] "
            f'and bind it: dependencies.{key} = {{ integrationAlias = "<alias>", '
            f'integrationInterfaceAlias = "{requirement.interface}<...>" }}'
        )

    def binding(self, need: _Need, dependency: PluginDependency) -> ResolvedBinding | None:
        base = ["plugins", need.plugin_alias, "dependencies", need.key]
        alias_at = dotted([*base, "integrationAlias"])
        key_at = dotted([*base, "integrationInterfaceAlias"])
        target = dependency.integration_alias
        declared = self.config.integrations
        if target not in declared:
            self.problem(
                "unknown-integration-alias",
                alias_at,
                f"integration alias {target!r} is not declared in [integrations]",
                did_you_mean(target, declared)
                + (
                    f"declared aliases: {', '.join(declared)}"
                    if declared
                    else "no integration is declared: add one to [integrations]"
                ),
            )
            return None
        if not declared[target].enabled:
            self.problem(
                "disabled-integration",
                alias_at,
                f"integration {target!r} is disabled (enabled = false)",
                f"set enabled = true in [integrations.{target}] or bind another integration",
            )
            return None
        if target not in self.loaded:
            return None
        record, definition = self.loaded[target]
        implementation = self.implementation(need, target, dependency, alias_at, key_at)
        if implementation is None:
            return None
        interface = implementation.interface
        if not need.requirement.specifier.contains(interface.version, prereleases=True):
            self.problem(
                "interface-version",
                key_at,
                f"plugin {need.definition.name!r} ({_described(need.record)}) requires "
                f"{need.requirement}, but integration {definition.name!r} "
                f"({_described(record)}) implements {interface.name} "
                f"{interface.version}",
                f"install a release of {record.distribution} built on "
                f"{need.requirement}, or a release of {need.record.distribution} that accepts "
                f"{interface.name} {interface.version}",
            )
            return None
        return ResolvedBinding(
            requirement_alias=need.key, integration_alias=target, implementation=implementation
        )

    def implementation(
        self,
        need: _Need,
        alias: str,
        dependency: PluginDependency,
        alias_at: str,
        key_at: str,
    ) -> InterfaceImplementation | None:
        _, definition = self.loaded[alias]
        wanted = need.requirement.interface
        offered = definition.implementation_keys
        offered_text = ", ".join(offered) if offered else "none: it implements no interface"
        matching = [item for item in definition.implements if item.interface.name == wanted]
        described = f"integration {alias!r} ({definition.name})"
        key = dependency.integration_interface_alias
        if key is None:
            if len(matching) == 1:
                return matching[0]
            if not matching:
                self.problem(
                    "interface-mismatch",
                    alias_at,
                    f"{described} does not implement interface {wanted!r}, which requirement "
                    f"{need.key!r} of plugin {need.definition.name!r} needs",
                    f"bind an integration that implements {wanted!r} (its keys: {offered_text})",
                )
            else:
                self.problem(
                    "ambiguous-implementation",
                    alias_at,
                    f"{described} implements interface {wanted!r} more than once",
                    "set integrationInterfaceAlias to one of: "
                    + ", ".join(item.key for item in matching),
                )
            return None
        implementation = definition.implementation(key)
        if implementation is None:
            self.problem(
                "unknown-implementation",
                key_at,
                f"{described} offers no implementation key {key!r}",
                did_you_mean(key, offered) + f"offered keys: {offered_text}",
            )
            return None
        if implementation.interface.name != wanted:
            right = ", ".join(item.key for item in matching)
            self.problem(
                "interface-mismatch",
                key_at,
                f"{key!r} implements interface {implementation.interface.name!r}, but "
                f"requirement {need.key!r} of plugin {need.definition.name!r} needs {wanted!r}",
                f"use {right}" if right else f"{described} does not implement {wanted!r}",
            )
            return None
        return implementation


@dataclass(frozen=True)
class _Need:
    """One requirement of one plugin entry, with what error messages say about it."""

    plugin_alias: str
    key: str
    requirement: InterfaceRequirement
    record: EntryPointRecord
    definition: PluginDefinition
