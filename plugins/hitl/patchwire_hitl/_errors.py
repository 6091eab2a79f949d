"""Errors the plugin's actions raise."""

from __future__ import annotations

from patchwire import ReportedError

__all__ = ["HitlStartError"]


class HitlStartError(ReportedError):
    """``start_hitl`` failed at ``step``; the user was told and nothing was left active.

    A ``ReportedError``: a handler that lets it propagate fails its job without the runtime's
    generic error text on top of the start-failed text the user already got.
    """

    def __init__(self, step: str, reason: str) -> None:
        self.step = step
        self.reason = reason
        super().__init__(f"start_hitl failed while {step}: {reason}")
