"""The plugin's metrics: sessions by state, and how long users wait for a human.

Sessions by state are read at scrape time from the index tags ``list_sessions`` uses (one
grouped count per alias). The waits are observed once per session, by whichever handler won
the compare-and-set of the change they measure, so a redelivered webhook or a second process
never counts one twice.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from prometheus_client import Histogram

from patchwire import Context
from patchwire_hitl._session import Names, Session

__all__ = ["STATES", "assigned", "ended", "first_reply", "metrics"]

STATES = ("starting", "active", "ended")
WAIT_BUCKETS = (1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600, 7200, 21600)

ASSIGNMENT = "patchwire_hitl_assignment_seconds"
FIRST_REPLY = "patchwire_hitl_first_reply_seconds"
DURATION = "patchwire_hitl_session_duration_seconds"
_HISTOGRAMS = {
    ASSIGNMENT: ("From a HITL session's start to its first human agent assigned.", ["alias"]),
    FIRST_REPLY: (
        "From a HITL session's start to the first human agent message relayed to the user.",
        ["alias"],
    ),
    DURATION: ("From a HITL session's start to its end, by end reason.", ["alias", "end_reason"]),
}


def metrics(ctx: Context) -> None:
    """Register this alias's gauge and histograms (``@plugin.metrics``)."""
    status_tag = Names(ctx.alias).status

    async def by_state() -> Mapping[tuple[str, ...], float]:
        counts = await ctx.count_conversations(status_tag)
        return {(ctx.alias, state): float(counts.get(state, 0)) for state in STATES}

    ctx.metrics.gauge(
        "patchwire_hitl_sessions", "HITL sessions by state.", ["alias", "state"], by_state
    )
    for name in (ASSIGNMENT, FIRST_REPLY):  # at zero from the start, not from the first one
        _histogram(ctx, name).labels(ctx.alias)
    _histogram(ctx, DURATION)


def assigned(ctx: Context, session: Session) -> None:
    """The session's first human agent was assigned."""
    if session.assigned_at is not None:
        _waited(ctx, ASSIGNMENT, session, session.assigned_at, ctx.alias)


def first_reply(ctx: Context, session: Session) -> None:
    """A human agent's first message in the session reached the user."""
    if session.first_reply_at is not None:
        _waited(ctx, FIRST_REPLY, session, session.first_reply_at, ctx.alias)


def ended(ctx: Context, session: Session) -> None:
    """The session ended (for any reason, a failed start included)."""
    if session.ended_at is not None:
        _waited(ctx, DURATION, session, session.ended_at, ctx.alias, session.end_reason or "")


def _waited(ctx: Context, name: str, session: Session, moment: datetime, *labels: str) -> None:
    seconds = (moment - session.started_at).total_seconds()
    _histogram(ctx, name).labels(*labels).observe(seconds)


def _histogram(ctx: Context, name: str) -> Histogram:
    documentation, labels = _HISTOGRAMS[name]
    return ctx.metrics.histogram(name, documentation, labels, WAIT_BUCKETS)
