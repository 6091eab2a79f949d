"""Definitions: the data every interface, integration and plugin declares about itself.

A definition is pure data (names, versions, pydantic models). The host can validate and bind
definitions before any handler runs, which is what lets ``patchwire check`` fail fast.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Any, Generic, Optional, overload

from packaging.requirements import InvalidRequirement, Requirement
from packaging.specifiers import SpecifierSet
from packaging.version import InvalidVersion, Version
from pydantic import BaseModel, ConfigDict, Field, create_model, field_validator, model_validator
from typing_extensions import TypeVar

from patchwire._models import WireModel

__all__ = [
    "ActionDefinition",
    "ChannelDefinition",
    "ConfigT",
    "EntityDefinition",
    "EntityRef",
    "EventDefinition",
    "IntegrationDefinition",
    "InterfaceDefinition",
    "InterfaceImplementation",
    "InterfaceRequirement",
    "NoConfiguration",
    "PluginDefinition",
    "implements",
    "substitute_entities",
]

NAME_PATTERN = r"^[a-z][a-z0-9_-]{1,99}$"


class NoConfiguration(WireModel):
    """The configuration model of a package that takes no configuration."""


ConfigT = TypeVar("ConfigT", bound=BaseModel, default=BaseModel, covariant=True)
"""A package's configuration model: what ``ctx.configuration`` is in its handlers.

``IntegrationDefinition(configuration=AcmeConfiguration)`` makes an
``IntegrationDefinition[AcmeConfiguration]``, its ``Integration`` an
``Integration[AcmeConfiguration]``, and its handlers' ``ctx`` a ``Context[AcmeConfiguration]``.
"""


@dataclass(frozen=True)
class EntityRef:
    """Marks a field whose schema is an entity chosen at bind time.

    In an interface: ``Annotated[dict[str, Any] | None, EntityRef("hitlSession")]``; the
    implementing integration's own entity model replaces the annotation. In a plugin the
    reference also names the requirement alias: ``EntityRef("hitlSession", interface="hitl")``.
    """

    entity: str
    interface: str | None = None


class _Frozen(BaseModel):
    model_config = ConfigDict(arbitrary_types_allowed=True, frozen=True, extra="forbid")


class ActionDefinition(_Frozen):
    input: type[BaseModel]
    output: type[BaseModel]
    title: str = ""
    description: str = ""


class EventDefinition(_Frozen):
    payload: type[BaseModel]
    title: str = ""
    description: str = ""


class EntityDefinition(_Frozen):
    model: type[BaseModel]
    title: str = ""
    description: str = ""


class ChannelDefinition(_Frozen):
    messages: dict[str, type[BaseModel]]
    title: str = ""
    description: str = ""


def _check_name(value: str) -> str:
    if not re.match(NAME_PATTERN, value):
        raise ValueError(
            f"{value!r} is not a valid name: use 2-100 characters, lowercase letters, digits, "
            "'-' or '_', starting with a letter"
        )
    return value


def _check_version(value: str) -> str:
    try:
        Version(value)
    except InvalidVersion:
        raise ValueError(f"{value!r} is not a valid version (PEP 440, e.g. 1.2.0)") from None
    return value


def entity_refs(model: type[BaseModel]) -> dict[str, EntityRef]:
    """The fields of ``model`` typed by an entity reference, by field name."""
    found: dict[str, EntityRef] = {}
    for field_name, field in model.model_fields.items():
        for item in field.metadata:
            if isinstance(item, EntityRef):
                found[field_name] = item
    return found


def substitute_entities(
    model: type[BaseModel], entities: dict[EntityRef, type[BaseModel]], *, name: str
) -> type[BaseModel]:
    """A subclass of ``model`` whose entity-typed fields take the given entity models."""
    overrides: dict[str, Any] = {}
    for field_name, ref in entity_refs(model).items():
        if ref not in entities:
            continue
        field = model.model_fields[field_name]
        entity_model = entities[ref]
        if field.is_required():
            overrides[field_name] = (entity_model, Field(alias=field.alias))
        else:
            overrides[field_name] = (
                Optional[entity_model],  # noqa: UP045 - a runtime type expression
                Field(default=field.default, alias=field.alias),
            )
    if not overrides:
        return model
    created: type[BaseModel] = create_model(name, __base__=model, **overrides)
    return created


class InterfaceDefinition(_Frozen):
    """A contract between plugins and integrations."""

    name: str
    version: str
    title: str = ""
    description: str = ""
    entities: dict[str, EntityDefinition] = Field(default_factory=dict)
    actions: dict[str, ActionDefinition] = Field(default_factory=dict)
    events: dict[str, EventDefinition] = Field(default_factory=dict)
    channels: dict[str, ChannelDefinition] = Field(default_factory=dict)

    _name = field_validator("name")(_check_name)
    _version = field_validator("version")(_check_version)

    @model_validator(mode="after")
    def _entity_refs_are_declared(self) -> InterfaceDefinition:
        for action_name, action in self.actions.items():
            for field_name, ref in entity_refs(action.input).items():
                if ref.entity not in self.entities:
                    raise ValueError(
                        f"action {action_name!r} field {field_name!r} references entity "
                        f"{ref.entity!r}, which the interface does not declare "
                        f"(declared: {', '.join(self.entities) or 'none'})"
                    )
        return self


class InterfaceImplementation(_Frozen):
    """An integration's claim to implement an interface, with its entity mapping."""

    interface: InterfaceDefinition
    entities: dict[str, str] = Field(default_factory=dict)

    @property
    def key(self) -> str:
        """The implementation key a config names, such as ``hitl<hitlTicket>``."""
        if not self.interface.entities:
            return self.interface.name
        mapped = ",".join(self.entities.get(name, name) for name in self.interface.entities)
        return f"{self.interface.name}<{mapped}>"


def implements(
    interface: InterfaceDefinition, *, entities: dict[str, str] | None = None
) -> InterfaceImplementation:
    """Declare that an integration implements ``interface``, mapping its entities to ours."""
    return InterfaceImplementation(interface=interface, entities=dict(entities or {}))


class IntegrationDefinition(_Frozen, Generic[ConfigT]):
    """What an integration offers: configuration, actions, events, channels, entities."""

    name: str
    version: str
    title: str = ""
    description: str = ""
    configuration: type[ConfigT] = NoConfiguration  # type: ignore[assignment]
    actions: dict[str, ActionDefinition] = Field(default_factory=dict)
    events: dict[str, EventDefinition] = Field(default_factory=dict)
    channels: dict[str, ChannelDefinition] = Field(default_factory=dict)
    entities: dict[str, EntityDefinition] = Field(default_factory=dict)
    implements: list[InterfaceImplementation] = Field(default_factory=list)

    _name = field_validator("name")(_check_name)
    _version = field_validator("version")(_check_version)

    if TYPE_CHECKING:
        # Typed so that the configuration model given becomes the definition's ``ConfigT``
        # (pydantic's own signature takes every field as ``Any``).
        @overload
        def __init__(self, *, configuration: type[ConfigT], **fields: Any) -> None: ...
        @overload
        def __init__(self: IntegrationDefinition[NoConfiguration], **fields: Any) -> None: ...
        def __init__(self, **fields: Any) -> None: ...

    @model_validator(mode="after")
    def _implementations_are_consistent(self) -> IntegrationDefinition[ConfigT]:
        problems: list[str] = []
        keys: set[str] = set()
        for implementation in self.implements:
            interface = implementation.interface
            for interface_entity, own_entity in implementation.entities.items():
                if interface_entity not in interface.entities:
                    problems.append(
                        f"implements {interface.name!r}: the interface has no entity "
                        f"{interface_entity!r} (it has: {', '.join(interface.entities) or 'none'})"
                    )
                elif own_entity not in self.entities:
                    problems.append(
                        f"implements {interface.name!r}: entity {interface_entity!r} is mapped to "
                        f"{own_entity!r}, which this integration does not define "
                        f"(it defines: {', '.join(self.entities) or 'none'})"
                    )
            for interface_entity in interface.entities:
                if interface_entity not in implementation.entities:
                    problems.append(
                        f"implements {interface.name!r}: interface entity {interface_entity!r} is "
                        "not mapped to any entity of this integration"
                    )
            if implementation.key in keys:
                problems.append(f"implements {implementation.key!r} twice")
            keys.add(implementation.key)
            for kind, own, theirs in (
                ("action", self.actions, interface.actions),
                ("event", self.events, interface.events),
                ("channel", self.channels, interface.channels),
            ):
                for clash in sorted(set(own) & set(theirs)):
                    problems.append(
                        f"{kind} {clash!r} is defined by the integration and by interface "
                        f"{interface.name!r}; leave it to the interface"
                    )
        if problems:
            raise ValueError("; ".join(problems))
        return self

    @property
    def implementation_keys(self) -> list[str]:
        return [implementation.key for implementation in self.implements]

    def implementation(self, key: str) -> InterfaceImplementation | None:
        for implementation in self.implements:
            if implementation.key == key:
                return implementation
        return None

    @cached_property
    def all_actions(self) -> dict[str, ActionDefinition]:
        """Own actions plus every implemented interface's, with entities substituted."""
        actions = dict(self.actions)
        for implementation in self.implements:
            resolved = {
                EntityRef(name): self.entities[own].model
                for name, own in implementation.entities.items()
            }
            for action_name, action in implementation.interface.actions.items():
                prefix = _camel(self.name) + _camel(action_name)
                actions[action_name] = action.model_copy(
                    update={
                        "input": substitute_entities(action.input, resolved, name=f"{prefix}Input")
                    }
                )
        return actions

    @cached_property
    def all_events(self) -> dict[str, EventDefinition]:
        events = dict(self.events)
        for implementation in self.implements:
            events.update(implementation.interface.events)
        return events

    @cached_property
    def all_channels(self) -> dict[str, ChannelDefinition]:
        channels = dict(self.channels)
        for implementation in self.implements:
            channels.update(implementation.interface.channels)
        return channels


class InterfaceRequirement(_Frozen):
    """A plugin's need for an interface, parsed from a string such as ``hitl>=2,<3``."""

    interface: str
    specifier: SpecifierSet

    @classmethod
    def parse(cls, text: str) -> InterfaceRequirement:
        try:
            requirement = Requirement(text)
        except InvalidRequirement as error:
            raise ValueError(
                f"{text!r} is not an interface requirement such as 'hitl>=2,<3': {error}"
            ) from None
        return cls(interface=requirement.name, specifier=requirement.specifier)

    def __str__(self) -> str:
        return f"{self.interface}{self.specifier}"


class PluginDefinition(_Frozen, Generic[ConfigT]):
    """What a plugin offers and which interfaces it needs bound."""

    name: str
    version: str
    title: str = ""
    description: str = ""
    configuration: type[ConfigT] = NoConfiguration  # type: ignore[assignment]
    actions: dict[str, ActionDefinition] = Field(default_factory=dict)
    events: dict[str, EventDefinition] = Field(default_factory=dict)
    states: dict[str, type[BaseModel]] = Field(default_factory=dict)
    requires: dict[str, InterfaceRequirement] = Field(default_factory=dict)

    _name = field_validator("name")(_check_name)
    _version = field_validator("version")(_check_version)

    if TYPE_CHECKING:
        # As IntegrationDefinition's: the configuration model given becomes ``ConfigT``.
        @overload
        def __init__(self, *, configuration: type[ConfigT], **fields: Any) -> None: ...
        @overload
        def __init__(self: PluginDefinition[NoConfiguration], **fields: Any) -> None: ...
        def __init__(self, **fields: Any) -> None: ...

    @field_validator("requires", mode="before")
    @classmethod
    def _parse_requirements(cls, value: Any) -> Any:
        if isinstance(value, dict):
            return {
                alias: InterfaceRequirement.parse(item) if isinstance(item, str) else item
                for alias, item in value.items()
            }
        return value

    @model_validator(mode="after")
    def _entity_refs_name_requirements(self) -> PluginDefinition[ConfigT]:
        for action_name, action in self.actions.items():
            for field_name, ref in entity_refs(action.input).items():
                if ref.interface not in self.requires:
                    raise ValueError(
                        f"action {action_name!r} field {field_name!r} references an entity of "
                        f"{ref.interface!r}, which is not one of the plugin's requirements "
                        f"({', '.join(self.requires) or 'none'})"
                    )
        return self


def _camel(name: str) -> str:
    return "".join(part.capitalize() for part in re.split(r"[-_]", name))
