"""A session's record and the names the plugin keeps in the store.

The upstream conversation's ``session`` state is the single source of truth for a session;
tags (prefixed by the plugin alias, since tags are shared) link the two conversations and the
two users both ways.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from pydantic import Field

from patchwire import WireModel
from patchwire_hitl._config import HitlConfiguration, HitlConfigurationOverrides

__all__ = ["EndReason", "Names", "Session", "effective_configuration"]

EndReason = str
"""``patient-used-termination-command``, ``agent-closed-ticket``, ``agent-assignment-timeout``,
``close-action-called``, ``internal-error`` or ``start-failed``."""


class Session(WireModel):
    id: str
    active: bool
    upstream_id: str
    downstream_id: str | None = None
    initiating_user_id: str
    configuration: HitlConfiguration
    started_at: datetime = Field(default_factory=lambda: datetime.now(UTC))
    start_message_id: str | None = None
    assigned_agent_id: str | None = None
    assigned_agent_name: str | None = None
    timeout_event_id: str | None = None
    ended_at: datetime | None = None
    end_reason: EndReason | None = None


class Names:
    """Tag names of one plugin alias."""

    def __init__(self, alias: str) -> None:
        self.downstream = f"{alias}.downstream"
        self.upstream = f"{alias}.upstream"
        self.integration = f"{alias}.integrationAlias"


SESSION_STATE = "session"


def effective_configuration(
    configuration: HitlConfiguration, overrides: HitlConfigurationOverrides | None
) -> HitlConfiguration:
    """The plugin's configuration with the overrides that were given merged over it.

    An override of ``""`` is kept, so the session uses the built-in text, not the globally
    configured one.
    """
    if overrides is None:
        return configuration
    given: dict[str, Any] = overrides.model_dump(exclude_unset=True, exclude_none=True)
    return configuration.model_copy(update=given)
