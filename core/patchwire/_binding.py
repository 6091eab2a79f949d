"""What a bound plugin's actions accept, once its requirements point at integrations.

The runtime's proxies and the generated type stubs both read this, so an entity-typed field
validates and type-checks against the same model: the bound integration's entity.
"""

from __future__ import annotations

from pydantic import BaseModel

from patchwire._definitions import ActionDefinition, EntityRef, substitute_entities
from patchwire._resolved import ResolvedAgent, ResolvedPlugin

__all__ = ["plugin_actions"]


def plugin_actions(agent: ResolvedAgent, plugin: ResolvedPlugin) -> dict[str, ActionDefinition]:
    """The plugin's actions with each ``EntityRef`` field typed by the bound entity model."""
    entities: dict[EntityRef, type[BaseModel]] = {}
    for requirement, binding in plugin.bindings.items():
        definition = agent.integrations[binding.integration_alias].definition
        for interface_entity, own_entity in binding.implementation.entities.items():
            entities[EntityRef(interface_entity, interface=requirement)] = definition.entities[
                own_entity
            ].model
    return {
        name: action.model_copy(
            update={
                "input": substitute_entities(action.input, entities, name=action.input.__name__)
            }
        )
        for name, action in plugin.definition.actions.items()
    }
