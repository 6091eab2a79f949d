"""patchwire: conversational agents assembled from pip-installable packages."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from patchwire._config import (
    AgentConfig,
    IntegrationEntry,
    ModelConfig,
    PluginDependency,
    PluginEntry,
    RuntimeSettings,
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
    installed,
)
from patchwire._errors import (
    ActionInputError,
    ActionNotFoundError,
    ActionOutputError,
    AlreadyExistsError,
    ConfigError,
    DefinitionError,
    PackageLoadError,
    PatchwireError,
    ReportedError,
    format_validation_error,
)
from patchwire._models import WireModel
from patchwire._packages import (
    ActionHandler,
    EventHook,
    EventSender,
    Integration,
    LifecycleHandler,
    MessageHook,
    MessageSender,
    OnlineCheck,
    OutgoingMessageHook,
    Plugin,
    RoutesFactory,
)
from patchwire._problems import Problem
from patchwire._resolver import check, resolve

__all__ = [
    "STOP",
    "ActionDefinition",
    "ActionHandler",
    "ActionInputError",
    "ActionNotFoundError",
    "ActionOutputError",
    "AgentConfig",
    "AlreadyExistsError",
    "Catalog",
    "ChannelDefinition",
    "ConfigError",
    "Context",
    "Conversation",
    "DefinitionError",
    "DuplicatePackageError",
    "EntityDefinition",
    "EntityRef",
    "EntryPointRecord",
    "EventContext",
    "EventDefinition",
    "EventHook",
    "EventSender",
    "Integration",
    "IntegrationDefinition",
    "IntegrationEntry",
    "InterfaceDefinition",
    "InterfaceImplementation",
    "InterfaceRequirement",
    "LifecycleHandler",
    "MessageContext",
    "MessageHook",
    "MessageSender",
    "Metrics",
    "ModelConfig",
    "ModelError",
    "NoConfiguration",
    "OnlineCheck",
    "OutgoingMessageHook",
    "PackageFailure",
    "PackageLoadError",
    "PackageNotFoundError",
    "PatchwireError",
    "Plugin",
    "PluginDefinition",
    "PluginDependency",
    "PluginEntry",
    "Problem",
    "ReportedError",
    "RoutesFactory",
    "RuntimeSettings",
    "WireModel",
    "check",
    "define_config",
    "format_validation_error",
    "implements",
    "installed",
    "integrations",
    "load_config",
    "plugins",
    "resolve",
]


_RUNTIME_NAMES = frozenset(
    {
        "Context",
        "Conversation",
        "EventContext",
        "MessageContext",
        "ModelError",
        "STOP",
        "integrations",
        "plugins",
    }
)
"""Imported on first use, so that `patchwire check` never pays for the runtime's imports."""

if TYPE_CHECKING:
    from patchwire.metrics import Metrics
    from patchwire.runtime import (
        STOP,
        Context,
        Conversation,
        EventContext,
        MessageContext,
        ModelError,
        integrations,
        plugins,
    )


def __getattr__(name: str) -> Any:
    if name == "__version__":
        from importlib.metadata import version

        return version("patchwire")
    if name in _RUNTIME_NAMES:
        import patchwire.runtime

        return getattr(patchwire.runtime, name)
    if name == "Metrics":  # prometheus-client, too, only when asked for
        from patchwire.metrics import Metrics

        return Metrics
    raise AttributeError(f"module 'patchwire' has no attribute {name!r}")
