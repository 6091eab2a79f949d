"""patchwire: conversational agents assembled from pip-installable packages."""

from __future__ import annotations

from typing import Any

from patchwire._config import (
    AgentConfig,
    IntegrationEntry,
    PluginDependency,
    PluginEntry,
    define_config,
    load_config,
)
from patchwire._definitions import (
    ActionDefinition,
    ChannelDefinition,
    EntityDefinition,
    EntityRef,
    EventDefinition,
    IntegrationDefinition,
    InterfaceDefinition,
    InterfaceImplementation,
    InterfaceRequirement,
    NoConfiguration,
    PluginDefinition,
    implements,
)
from patchwire._discovery import (
    Catalog,
    DuplicatePackageError,
    EntryPointRecord,
    PackageFailure,
    PackageNotFoundError,
)
from patchwire._errors import (
    ActionInputError,
    ActionNotFoundError,
    ActionOutputError,
    ConfigError,
    DefinitionError,
    PackageLoadError,
    PatchwireError,
)
from patchwire._models import WireModel
from patchwire._packages import Integration, Plugin
from patchwire._problems import Problem
from patchwire._resolver import check, resolve

__all__ = [
    "ActionDefinition",
    "ActionInputError",
    "ActionNotFoundError",
    "ActionOutputError",
    "AgentConfig",
    "Catalog",
    "ChannelDefinition",
    "ConfigError",
    "DefinitionError",
    "DuplicatePackageError",
    "EntityDefinition",
    "EntityRef",
    "EntryPointRecord",
    "EventDefinition",
    "Integration",
    "IntegrationDefinition",
    "IntegrationEntry",
    "InterfaceDefinition",
    "InterfaceImplementation",
    "InterfaceRequirement",
    "NoConfiguration",
    "PackageFailure",
    "PackageLoadError",
    "PackageNotFoundError",
    "PatchwireError",
    "Plugin",
    "PluginDefinition",
    "PluginDependency",
    "PluginEntry",
    "Problem",
    "WireModel",
    "check",
    "define_config",
    "implements",
    "load_config",
    "resolve",
]


def __getattr__(name: str) -> Any:
    if name == "__version__":
        from importlib.metadata import version

        return version("patchwire")
    raise AttributeError(f"module 'patchwire' has no attribute {name!r}")
