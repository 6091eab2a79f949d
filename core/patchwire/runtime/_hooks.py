"""Hook specifications and the runner that awaits plugin hooks in agent.toml order.

pluggy validates hook names and signatures when a plugin is registered; the runner then awaits
the implementations itself, in the order the plugins are listed, so that a hook can stop the
ones after it (pluggy would call every async implementation up front).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

import pluggy

from patchwire._errors import DefinitionError

__all__ = ["HOOK_NAMES", "STOP", "HookRunner", "OutgoingMessage", "Stop", "hookimpl"]

hookspec = pluggy.HookspecMarker("patchwire")
hookimpl = pluggy.HookimplMarker("patchwire")


class Stop:
    """Returned by a ``before_*`` hook to stop the message or event there."""

    _instance: Stop | None = None

    def __new__(cls) -> Stop:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "STOP"


STOP: Final = Stop()


@dataclass
class OutgoingMessage:
    """A message on its way out, before it is stored; ``before_outgoing_message`` may edit it."""

    conversation_id: str
    type: str
    payload: dict[str, Any]
    user_id: str | None = None
    tags: dict[str, str] = field(default_factory=dict)
    metadata: dict[str, Any] | None = None


class _Specs:
    @hookspec
    def before_incoming_message(self, ctx: Any, message: Any) -> Any:
        """Called for each incoming message before the agent; return STOP to stop it."""

    @hookspec
    def after_incoming_message(self, ctx: Any, message: Any) -> Any:
        """Called after the agent handled an incoming message."""

    @hookspec
    def before_incoming_event(self, ctx: Any, event: Any) -> Any:
        """Called for each event before the agent; return STOP to stop it."""

    @hookspec
    def after_incoming_event(self, ctx: Any, event: Any) -> Any:
        """Called after the agent handled an event."""

    @hookspec
    def before_outgoing_message(self, ctx: Any, message: Any) -> Any:
        """Called before a message is stored and sent; return STOP, or a new OutgoingMessage."""

    @hookspec
    def after_outgoing_message(self, ctx: Any, message: Any) -> Any:
        """Called after a message was sent (``message.status`` says whether it was delivered)."""


HOOK_NAMES: Final = tuple(name for name in vars(_Specs) if not name.startswith("_"))

Hook = Callable[..., Awaitable[Any]]


class HookRunner:
    """The hook implementations of an agent's plugins, in agent.toml order."""

    def __init__(self) -> None:
        self._manager = pluggy.PluginManager("patchwire")
        self._manager.add_hookspecs(_Specs)
        self._ordered: list[tuple[Any, dict[str, Hook]]] = []

    def register(self, alias: str, ctx: Any, implementations: dict[str, Hook]) -> None:
        """Register one plugin instance's hooks; unknown names or arguments are refused."""
        members = {name: staticmethod(hookimpl(fn)) for name, fn in implementations.items()}
        namespace = type(f"Hooks[{alias}]", (), members)()
        try:
            self._manager.register(namespace, name=alias)
            self._manager.check_pending()
        except pluggy.PluginValidationError as error:
            self._manager.unregister(name=alias)
            raise DefinitionError(
                f"plugin alias {alias!r}: {error} (known hooks: {', '.join(HOOK_NAMES)})"
            ) from None
        self._ordered.append((ctx, implementations))

    def implementations(self, name: str) -> Sequence[tuple[Any, Hook]]:
        return [(ctx, hooks[name]) for ctx, hooks in self._ordered if name in hooks]

    async def run_before(self, name: str, subject: Any) -> Any:
        """Run ``before_*`` hooks; STOP stops, any other non-None result replaces the subject."""
        for ctx, hook in self.implementations(name):
            result = await hook(ctx, subject)
            if isinstance(result, Stop):
                return STOP
            if result is not None:
                subject = result
        return subject

    async def run_after(self, name: str, subject: Any) -> None:
        for ctx, hook in self.implementations(name):
            await hook(ctx, subject)
