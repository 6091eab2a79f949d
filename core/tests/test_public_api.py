"""The public API is what ``patchwire.__all__`` says: pinned, so a change to it is deliberate."""

from __future__ import annotations

import patchwire

PUBLIC = [
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
    "STOP",
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


def test_the_public_api_is_pinned() -> None:
    assert sorted(patchwire.__all__) == sorted(PUBLIC)


def test_every_public_name_resolves() -> None:
    for name in patchwire.__all__:
        assert getattr(patchwire, name) is not None, name
