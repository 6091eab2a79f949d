"""``patchwire.plugins`` and ``patchwire.integrations``: proxies to the running agent."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any

from patchwire._errors import PatchwireError

if TYPE_CHECKING:
    from patchwire.runtime._runtime import Runtime

__all__ = ["NoAgentRunningError", "activate", "current_runtime", "integrations", "plugins"]

_current: ContextVar[Runtime | None] = ContextVar("patchwire_runtime", default=None)
_process_wide: list[Runtime] = []


class NoAgentRunningError(PatchwireError, RuntimeError):
    """``plugins`` or ``integrations`` was used outside a running agent."""


def current_runtime() -> Runtime:
    runtime = _current.get() or (_process_wide[-1] if _process_wide else None)
    if runtime is None:
        raise NoAgentRunningError(
            "no agent is running in this process: patchwire.plugins and patchwire.integrations "
            "work inside agent code run by `patchwire dev`/`serve`, or within "
            "`patchwire.runtime.activate(runtime)`"
        )
    return runtime


@contextmanager
def activate(runtime: Runtime, *, process_wide: bool = False) -> Iterator[Runtime]:
    """Make ``runtime`` the one the module-level proxies resolve to."""
    token = _current.set(runtime)
    if process_wide:
        _process_wide.append(runtime)
    try:
        yield runtime
    finally:
        _current.reset(token)
        if process_wide:
            _process_wide.remove(runtime)


class _RunningNamespace:
    def __init__(self, attribute: str) -> None:
        self._attribute = attribute

    def __getattr__(self, alias: str) -> Any:
        if alias.startswith("_"):
            raise AttributeError(alias)
        return getattr(getattr(current_runtime(), self._attribute), alias)

    def __getitem__(self, alias: str) -> Any:
        return getattr(current_runtime(), self._attribute)[alias]

    def __repr__(self) -> str:
        return f"<patchwire.{self._attribute} of the running agent>"


plugins: Any = _RunningNamespace("plugins")
integrations: Any = _RunningNamespace("integrations")
