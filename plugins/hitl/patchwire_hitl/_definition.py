"""The plugin's definition: configuration, actions and the interface it needs."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field

from patchwire import (
    ActionDefinition,
    EntityRef,
    PluginDefinition,
    WireModel,
)
from patchwire_hitl._config import HitlConfiguration, HitlConfigurationOverrides

__all__ = ["StartHitlInput", "StartHitlOutput", "StopHitlInput", "StopHitlOutput", "definition"]


class StartHitlInput(WireModel):
    title: str = Field(min_length=1)
    description: str | None = None
    hitl_session: Annotated[dict[str, Any] | None, EntityRef("hitlSession", interface="hitl")] = (
        None
    )
    user_id: str = Field(min_length=1)
    user_email: str | None = None
    conversation_id: str = Field(min_length=1)
    configuration_overrides: HitlConfigurationOverrides | None = None


class StartHitlOutput(WireModel):
    session_id: str
    downstream_conversation_id: str


class StopHitlInput(WireModel):
    conversation_id: str = Field(min_length=1)


class StopHitlOutput(WireModel):
    pass


definition = PluginDefinition(
    name="hitl",
    version="0.1.0",
    title="Human in the loop",
    description="Hands a live conversation to a human agent in the bound helpdesk, and back.",
    configuration=HitlConfiguration,
    actions={
        "start_hitl": ActionDefinition(input=StartHitlInput, output=StartHitlOutput),
        "stop_hitl": ActionDefinition(input=StopHitlInput, output=StopHitlOutput),
    },
    requires={"hitl": "hitl>=2,<3"},
)
