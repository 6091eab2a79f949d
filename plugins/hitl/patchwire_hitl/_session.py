"""A session's record and the names the plugin keeps in the store.

The upstream conversation's ``session`` state is the single source of truth for a session,
changed only by compare-and-set (``ctx.update_state``), so two processes handling the same
session never both act on one change. Tags (prefixed by the plugin alias, since tags are
shared) link the two conversations and the two users both ways, and index sessions for
``list_sessions``; the index is only a way to find records, which are always re-read.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import Field

from patchwire import WireModel
from patchwire_hitl._config import HitlConfiguration, HitlConfigurationOverrides

__all__ = ["EndReason", "Names", "Session", "SessionStatus", "effective_configuration"]

EndReason = str
"""``patient-used-termination-command``, ``agent-closed-ticket``, ``agent-assignment-timeout``,
``agent-response-timeout``, ``close-action-called``, ``internal-error`` or ``start-failed``."""

SessionStatus = Literal["starting", "active", "ended"]


def _now() -> datetime:
    return datetime.now(UTC)


class Session(WireModel):
    id: str
    active: bool
    upstream_id: str
    downstream_id: str | None = None
    initiating_user_id: str
    configuration: HitlConfiguration
    started_at: datetime = Field(default_factory=_now)
    start_message_id: str | None = None
    start_key: str | None = None
    """The start call's idempotency key: the same call run again after a crash resumes."""
    assigned_agent_id: str | None = None
    assigned_agent_name: str | None = None
    assigned_at: datetime | None = None
    first_reply_at: datetime | None = None
    """When a human agent's first message in the session was relayed to the user."""
    timeout_event_id: str | None = None
    idle_wait_id: str | None = None
    """Set while a user message waits for a human reply (the pending idle timer's token)."""
    idle_event_id: str | None = None
    idle_since: datetime | None = None
    """When the user message that armed the pending idle timer was received."""
    idle_notified: bool = False
    """The user was told the agent is idle; no new timer until a human replies."""
    ended_at: datetime | None = None
    end_reason: EndReason | None = None
    last_message_id: str | None = None
    """The user's conversation's newest message when the session ended (transcript's end)."""

    @property
    def status(self) -> SessionStatus:
        if self.active:
            return "active"
        return "starting" if self.ended_at is None else "ended"


class Names:
    """Tag names of one plugin alias."""

    def __init__(self, alias: str) -> None:
        self.downstream = f"{alias}.downstream"
        self.upstream = f"{alias}.upstream"
        self.integration = f"{alias}.integrationAlias"
        self.status = f"{alias}.sessionState"
        self.agent = f"{alias}.humanAgentId"
        self.end_reason = f"{alias}.hitlEndReason"
        self.additional_data = f"{alias}.additionalData"

    def index(self, session: Session) -> dict[str, str]:
        """The upstream conversation's tags that let ``list_sessions`` find this session."""
        return {
            self.status: session.status,
            self.agent: session.assigned_agent_id or "",
            self.end_reason: session.end_reason or "",
        }


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
