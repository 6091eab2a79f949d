"""The result of resolving an agent configuration against the installed packages.

Resolution (``patchwire._resolver``) produces these records; binding (proxies, runtime) only
ever reads them, so everything that can be wrong with a configuration is found before any
package code runs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from pydantic import BaseModel

from patchwire._config import RuntimeSettings
from patchwire._definitions import (
    IntegrationDefinition,
    InterfaceImplementation,
    PluginDefinition,
)
from patchwire._discovery import EntryPointRecord
from patchwire._packages import Integration, Plugin

__all__ = [
    "ResolvedAgent",
    "ResolvedBinding",
    "ResolvedIntegration",
    "ResolvedModel",
    "ResolvedPlugin",
]


@dataclass(frozen=True)
class ResolvedIntegration:
    """An ``[integrations]`` entry: the alias, the loaded package and its validated config."""

    alias: str
    record: EntryPointRecord
    package: Integration | IntegrationDefinition
    config: BaseModel

    @property
    def definition(self) -> IntegrationDefinition:
        return self.package.definition if isinstance(self.package, Integration) else self.package

    @property
    def runnable(self) -> bool:
        """False for a package that ships a definition only (it can be checked, not run)."""
        return isinstance(self.package, Integration)


@dataclass(frozen=True)
class ResolvedBinding:
    """One plugin requirement bound to an integration's implementation of the interface."""

    requirement_alias: str
    integration_alias: str
    implementation: InterfaceImplementation


@dataclass(frozen=True)
class ResolvedPlugin:
    """A ``[plugins]`` entry: the alias, the loaded package, its config and its bindings."""

    alias: str
    record: EntryPointRecord
    package: Plugin | PluginDefinition
    config: BaseModel
    bindings: dict[str, ResolvedBinding]

    @property
    def definition(self) -> PluginDefinition:
        return self.package.definition if isinstance(self.package, Plugin) else self.package

    @property
    def runnable(self) -> bool:
        return isinstance(self.package, Plugin)


@dataclass(frozen=True)
class ResolvedModel:
    """``[model]`` ready to call: shorthand split, ``${VAR}`` substituted, defaults filled."""

    provider: str
    model: str
    base_url: str
    api_key: str | None = field(repr=False)
    """None for a server that wants no key; never shown in a repr or a message."""
    timeout_seconds: float
    max_retries: int


@dataclass(frozen=True)
class ResolvedAgent:
    """An agent whose whole graph of packages resolved without a problem."""

    name: str
    directory: Path | None
    integrations: dict[str, ResolvedIntegration]
    plugins: dict[str, ResolvedPlugin]
    module: Path | None = None
    """The agent code file (``module`` in agent.toml, relative to its folder)."""
    database_url: str | None = None
    """``database_url`` with ``${VAR}`` substituted; None means the default SQLite file."""
    public_url: str | None = None
    """``public_url`` with ``${VAR}`` substituted, without a trailing slash; None: not given."""
    model: ResolvedModel | None = None
    """What ``[model]`` means; None is the built-in responder."""
    runtime: RuntimeSettings = field(default_factory=RuntimeSettings)
    """The ``[runtime]`` table: error text and delivery retries."""
