from __future__ import annotations

from typing import Annotated, Any

import pytest
from pydantic import ValidationError

from patchwire import (
    ActionDefinition,
    EntityDefinition,
    EntityRef,
    IntegrationDefinition,
    InterfaceDefinition,
    InterfaceRequirement,
    PluginDefinition,
    WireModel,
    implements,
)
from patchwire.interfaces.hitl import definition as hitl


class Ticket(WireModel):
    priority: str | None = None


def zendesk_like(**overrides: Any) -> IntegrationDefinition:
    arguments: dict[str, Any] = {
        "name": "zendesk",
        "version": "0.1.0",
        "entities": {"hitlTicket": EntityDefinition(model=Ticket)},
        "implements": [implements(hitl, entities={"hitlSession": "hitlTicket"})],
    }
    arguments.update(overrides)
    return IntegrationDefinition(**arguments)


def test_implementation_key_names_the_mapped_entities() -> None:
    assert zendesk_like().implementation_keys == ["hitl<hitlTicket>"]


def test_interface_actions_take_the_integration_entity() -> None:
    start = zendesk_like().all_actions["start_hitl"].input
    parsed = start.model_validate(
        {"userId": "u1", "hitlSession": {"priority": "high"}, "messageHistory": []}
    )
    assert isinstance(parsed.hitl_session, Ticket)  # type: ignore[attr-defined]
    with pytest.raises(ValidationError, match=r"hitlSession\.colour"):
        start.model_validate(
            {"userId": "u1", "hitlSession": {"colour": "red"}, "messageHistory": []}
        )


def test_mapping_to_an_entity_the_integration_lacks_is_refused() -> None:
    with pytest.raises(
        ValidationError, match="'hitlTicket', which this integration does not define"
    ):
        zendesk_like(entities={})


def test_an_unmapped_interface_entity_is_refused() -> None:
    with pytest.raises(ValidationError, match="'hitlSession' is not mapped"):
        zendesk_like(implements=[implements(hitl)])


def test_an_unknown_interface_entity_is_refused() -> None:
    with pytest.raises(ValidationError, match="the interface has no entity 'ticket'"):
        zendesk_like(implements=[implements(hitl, entities={"ticket": "hitlTicket"})])


def test_own_action_shadowing_an_interface_action_is_refused() -> None:
    action = ActionDefinition(input=Ticket, output=Ticket)
    with pytest.raises(ValidationError, match="action 'start_hitl' is defined by the integration"):
        zendesk_like(actions={"start_hitl": action})


def test_names_and_versions_are_checked() -> None:
    with pytest.raises(ValidationError, match="not a valid name"):
        zendesk_like(name="Zendesk!")
    with pytest.raises(ValidationError, match="not a valid version"):
        zendesk_like(version="one")


def test_interface_entity_refs_must_be_declared() -> None:
    class Input(WireModel):
        session: Annotated[dict[str, Any] | None, EntityRef("missing")] = None

    with pytest.raises(ValidationError, match="references entity 'missing'"):
        InterfaceDefinition(
            name="iface",
            version="1.0.0",
            actions={"go": ActionDefinition(input=Input, output=Input)},
        )


def test_plugin_requirements_parse_and_entity_refs_name_them() -> None:
    plugin = PluginDefinition(name="hitl", version="0.1.0", requires={"hitl": "hitl>=2,<3"})
    requirement = plugin.requires["hitl"]
    assert requirement.interface == "hitl"
    assert "2.1.0" in requirement.specifier
    assert "3.0.0" not in requirement.specifier

    class Input(WireModel):
        session: Annotated[dict[str, Any] | None, EntityRef("hitlSession", interface="crm")] = None

    with pytest.raises(ValidationError, match="references an entity of 'crm'"):
        PluginDefinition(
            name="hitl",
            version="0.1.0",
            requires={"hitl": "hitl>=2,<3"},
            actions={"go": ActionDefinition(input=Input, output=Input)},
        )


def test_a_bad_requirement_says_what_is_expected() -> None:
    with pytest.raises(ValueError, match="not an interface requirement such as 'hitl>=2,<3'"):
        InterfaceRequirement.parse("hitl >>> 2")


def test_hitl_interface_channel_limits_additional_data() -> None:
    text = hitl.channels["hitl"].messages["text"]
    text.model_validate({"text": "hi", "additionalData": "x" * 500})
    with pytest.raises(ValidationError, match="additionalData"):
        text.model_validate({"text": "hi", "additionalData": "x" * 501})
