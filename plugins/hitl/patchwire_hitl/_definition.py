"""The plugin's definition: configuration, actions and the interface it needs."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import Field

from patchwire import (
    ActionDefinition,
    EntityRef,
    PluginDefinition,
    WireModel,
)
from patchwire_hitl._config import HitlConfiguration, HitlConfigurationOverrides

__all__ = [
    "GetSessionInput",
    "GetSessionOutput",
    "HumanAgent",
    "ListSessionsInput",
    "ListSessionsOutput",
    "SessionInfo",
    "StartHitlInput",
    "StartHitlOutput",
    "StopHitlInput",
    "StopHitlOutput",
    "definition",
]


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


class HumanAgent(WireModel):
    id: str
    name: str


class SessionInfo(WireModel):
    """A session as agent code and operators see it."""

    session_id: str
    conversation_id: str = Field(description="The user's conversation.")
    downstream_conversation_id: str | None = Field(
        description="The helpdesk's conversation (None until the helpdesk opened it)."
    )
    status: Literal["starting", "active", "ended"]
    active: bool
    agent: HumanAgent | None = Field(description="The human agent assigned last, if any.")
    started_at: datetime
    assigned_at: datetime | None
    ended_at: datetime | None
    end_reason: str | None
    start_message_id: str | None = Field(
        description="The user message that triggered the start; the session's messages follow it."
    )
    last_message_id: str | None = Field(
        description="The conversation's newest message when the session ended."
    )


class GetSessionInput(WireModel):
    conversation_id: str = Field(min_length=1, description="The user's conversation.")


class GetSessionOutput(WireModel):
    session: SessionInfo | None = Field(
        description="The conversation's latest session; None when it never had one."
    )


class ListSessionsInput(WireModel):
    status: Literal["starting", "active", "ended"] | None = None
    agent_id: str | None = Field(default=None, min_length=1)
    end_reason: str | None = Field(default=None, min_length=1)
    limit: int = Field(default=50, ge=1, le=500)


class ListSessionsOutput(WireModel):
    sessions: list[SessionInfo] = Field(description="Newest start first.")


definition = PluginDefinition(
    name="hitl",
    version="0.1.0",
    title="Human in the loop",
    description="Hands a live conversation to a human agent in the bound helpdesk, and back.",
    configuration=HitlConfiguration,
    actions={
        "start_hitl": ActionDefinition(input=StartHitlInput, output=StartHitlOutput),
        "stop_hitl": ActionDefinition(input=StopHitlInput, output=StopHitlOutput),
        "get_session": ActionDefinition(
            input=GetSessionInput,
            output=GetSessionOutput,
            description="The latest HITL session of a user's conversation, active or ended.",
        ),
        "list_sessions": ActionDefinition(
            input=ListSessionsInput,
            output=ListSessionsOutput,
            description="Sessions by status, agent or end reason, found through an index.",
        ),
    },
    requires={"hitl": "hitl>=2,<3"},
)
