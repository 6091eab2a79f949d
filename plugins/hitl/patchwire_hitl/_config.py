"""The plugin's configuration: the texts it sends and the knobs of a session."""

from __future__ import annotations

from pydantic import Field

from patchwire import WireModel

__all__ = ["NULL", "HitlConfiguration", "HitlConfigurationOverrides"]

NULL = "NULL"
"""A message configured as exactly ``NULL`` is not sent at all."""


class HitlConfiguration(WireModel):
    """Every field is optional; an empty text means the built-in default."""

    on_hitl_handoff_message: str | None = None
    on_human_agent_assigned_message: str | None = None
    on_human_agent_transferred_message: str | None = None
    on_hitl_stopped_message: str | None = None
    on_user_hitl_cancelled_message: str | None = None
    on_incompatible_msg_type_message: str | None = None
    on_user_hitl_close_message: str | None = None
    on_agent_assigned_timeout_message: str | None = None
    on_agent_idle_message: str | None = None
    on_hitl_start_failed_message: str | None = None
    user_hitl_close_command: str | None = None
    agent_assigned_timeout_seconds: float | None = Field(default=None, ge=0)
    agent_idle_timeout_seconds: float | None = Field(default=None, ge=0)
    end_session_on_agent_idle: bool = False
    use_human_agent_info: bool = True
    flow_on_hitl_stopped: bool = True
    model_sees_human_agent_turns: bool = True
    history_limit: int = Field(default=200, ge=0, le=10_000)


class HitlConfigurationOverrides(WireModel):
    """Any subset of the configuration, merged over it for one session."""

    on_hitl_handoff_message: str | None = None
    on_human_agent_assigned_message: str | None = None
    on_human_agent_transferred_message: str | None = None
    on_hitl_stopped_message: str | None = None
    on_user_hitl_cancelled_message: str | None = None
    on_incompatible_msg_type_message: str | None = None
    on_user_hitl_close_message: str | None = None
    on_agent_assigned_timeout_message: str | None = None
    on_agent_idle_message: str | None = None
    on_hitl_start_failed_message: str | None = None
    user_hitl_close_command: str | None = None
    agent_assigned_timeout_seconds: float | None = Field(default=None, ge=0)
    agent_idle_timeout_seconds: float | None = Field(default=None, ge=0)
    end_session_on_agent_idle: bool | None = None
    use_human_agent_info: bool | None = None
    flow_on_hitl_stopped: bool | None = None
    model_sees_human_agent_turns: bool | None = None
    history_limit: int | None = Field(default=None, ge=0, le=10_000)
