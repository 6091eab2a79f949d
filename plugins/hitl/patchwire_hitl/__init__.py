"""patchwire-hitl: hand a live conversation to a human in the bound helpdesk, and back."""

from __future__ import annotations

from patchwire_hitl._config import NULL, HitlConfiguration, HitlConfigurationOverrides
from patchwire_hitl._definition import (
    AssignedEvent,
    GetSessionInput,
    GetSessionOutput,
    HumanAgent,
    ListSessionsInput,
    ListSessionsOutput,
    SessionEvent,
    SessionInfo,
    StartHitlInput,
    StartHitlOutput,
    StopHitlInput,
    StopHitlOutput,
    StoppedEvent,
    TransferredEvent,
    definition,
)
from patchwire_hitl._errors import HitlStartError
from patchwire_hitl._plugin import plugin
from patchwire_hitl._roles import AGENT_ROLE_TAG
from patchwire_hitl._session import Session
from patchwire_hitl._texts import DEFAULTS

__all__ = [
    "AGENT_ROLE_TAG",
    "DEFAULTS",
    "NULL",
    "AssignedEvent",
    "GetSessionInput",
    "GetSessionOutput",
    "HitlConfiguration",
    "HitlConfigurationOverrides",
    "HitlStartError",
    "HumanAgent",
    "ListSessionsInput",
    "ListSessionsOutput",
    "Session",
    "SessionEvent",
    "SessionInfo",
    "StartHitlInput",
    "StartHitlOutput",
    "StopHitlInput",
    "StopHitlOutput",
    "StoppedEvent",
    "TransferredEvent",
    "definition",
    "plugin",
]
