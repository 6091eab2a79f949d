"""The plugin's definition: configuration, actions and the interface it needs."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import Field

from patchwire import (
    ActionDefinition,
    EntityRef,
    EventDefinition,
    PluginDefinition,
    WireModel,
)
from patchwire_hitl._config import HitlConfiguration, HitlConfigurationOverrides

__all__ = [
    "AssignedEvent",
    "GetSessionInput",
    "GetSessionOutput",
    "HumanAgent",
    "ListSessionsInput",
    "ListSessionsOutput",
    "SessionEvent",
    "SessionInfo",
    "StartHitlInput",
    "StartHitlOutput",
    "StopHitlInput",
    "StopHitlOutput",
    "StoppedEvent",
    "TransferredEvent",
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


class SessionEvent(WireModel):
    """What every lifecycle event carries (``hitl_started``, ``continue_workflow``, ...)."""

    session_id: str
    conversation_id: str = Field(description="The user's conversation.")
    downstream_conversation_id: str | None = Field(description="The helpdesk's conversation.")


class AssignedEvent(SessionEvent):
    agent_id: str
    agent_name: str | None


class TransferredEvent(AssignedEvent):
    previous_agent_id: str | None
    previous_agent_name: str | None


class TranscriptRange(WireModel):
    from_message_id: str | None = Field(description="The message that triggered the start.")
    to_message_id: str | None = Field(description="The newest message when the session ended.")


class StoppedEvent(SessionEvent):
    reason: str | None
    agent_id: str | None
    agent_name: str | None
    started_at: str
    ended_at: str | None
    transcript: TranscriptRange


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
    events={
        "hitl_started": EventDefinition(payload=SessionEvent, description="A session began."),
        "hitl_assigned": EventDefinition(
            payload=AssignedEvent, description="The first human agent took the session."
        ),
        "hitl_transferred": EventDefinition(
            payload=TransferredEvent, description="Another human agent took the session."
        ),
        "hitl_stopped": EventDefinition(
            payload=StoppedEvent,
            description="The session ended: why, who the agent was, which messages it covered.",
        ),
        "continue_workflow": EventDefinition(
            payload=SessionEvent,
            description="The session ended and agent code may go on (flowOnHitlStopped).",
        ),
    },
    requires={"hitl": "hitl>=2,<3"},
)
