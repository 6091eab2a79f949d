"""What was seen in the last few minutes: signatures received, bodies signed."""

from __future__ import annotations

from typing import Generic, TypeVar

__all__ = ["Recent"]

_K = TypeVar("_K")


class Recent(Generic[_K]):
    """Keys with a time each, forgotten ``seconds`` after it; the oldest are dropped first."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self._times: dict[_K, float] = {}

    def get(self, key: _K, now: float) -> float | None:
        self._forget(now)
        return self._times.get(key)

    def put(self, key: _K, moment: float) -> None:
        """Record ``key`` at ``moment`` (never earlier than the times already recorded)."""
        self._times.pop(key, None)
        self._times[key] = moment

    def _forget(self, now: float) -> None:
        while self._times:
            oldest = next(iter(self._times))
            if now - self._times[oldest] <= self.seconds:
                return
            del self._times[oldest]
