"""Errors the plugin's actions raise."""

from __future__ import annotations

from patchwire import PatchwireError

__all__ = ["HitlStartError"]


class HitlStartError(PatchwireError):
    """``start_hitl`` failed at ``step``; the user was told and nothing was left active."""

    def __init__(self, step: str, reason: str) -> None:
        self.step = step
        self.reason = reason
        super().__init__(f"start_hitl failed while {step}: {reason}")
