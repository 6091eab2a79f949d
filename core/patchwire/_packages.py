"""Integration and Plugin: a definition plus the code that carries it out.

Handlers are recorded with decorators onto the object an entry point exposes, so the host can
introspect what a package implements before calling any of it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

from starlette.routing import BaseRoute

from patchwire._definitions import ChannelDefinition, IntegrationDefinition, PluginDefinition
from patchwire._errors import DefinitionError

__all__ = [
    "DEFAULT_MAX_BODY_BYTES",
    "ActionHandler",
    "EventSender",
    "Integration",
    "MetricsSetup",
    "OnlineCheck",
    "Plugin",
    "RoutesFactory",
]

DEFAULT_MAX_BODY_BYTES = 1024 * 1024
"""The request body limit of an integration's routes unless it declares its own (1 MiB)."""

ActionHandler = Callable[[Any, Any], Awaitable[Any]]
"""``async def handler(ctx, input) -> output``: ``input`` is the validated input model."""

MessageSender = Callable[[Any, Any], Awaitable[Any]]
"""``async def send(ctx, message) -> None``: delivers one outgoing message of one type."""

EventSender = Callable[[Any, Any], Awaitable[Any]]
"""``async def send_event(ctx, event) -> None``: delivers one custom event (the stored
``patchwire.store.Event``) into a conversation of its channel."""

RoutesFactory = Callable[[Any], Sequence[BaseRoute]]
"""``def routes(ctx) -> [Route(...), Mount(...), ...]``: what an integration serves under
``/webhooks/<alias>/``, built once per alias with that alias's ``Context``. A ``Mount("", app=...)``
serves a whole ASGI app; a route's or a mount's ``middleware=`` adds the integration's own."""

LifecycleHandler = Callable[[Any], Awaitable[Any]]
"""``async def register(ctx)``: sets up (or tears down) the outside system, idempotently."""

OnlineCheck = Callable[[Any], Awaitable[list[str]]]
"""``async def check(configuration) -> problems``: asks the outside system whether the agent's
configuration (address, credentials) works; an empty list means it does."""

MetricsSetup = Callable[[Any], None]
"""``def metrics(ctx) -> None``: registers a package's instruments and read gauges on
``ctx.metrics``, once per alias when the runtime starts (see docs/authoring.md, "Metrics")."""

HookImplementation = Callable[..., Awaitable[Any]]

_F = TypeVar("_F", bound=Callable[..., Awaitable[Any]])
_R = TypeVar("_R", bound=RoutesFactory)
_M = TypeVar("_M", bound=MetricsSetup)


class _ActionRegistry:
    def __init__(self) -> None:
        self.action_handlers: dict[str, ActionHandler] = {}
        self.metrics_setup: MetricsSetup | None = None

    def action(self, name: str) -> Callable[[_F], _F]:
        """Record the decorated coroutine function as the handler of action ``name``."""

        def record(handler: _F) -> _F:
            if name in self.action_handlers:
                raise DefinitionError(f"action {name!r} has two handlers")
            self.action_handlers[name] = handler
            return handler

        return record

    def metrics(self, setup: _M) -> _M:
        """Record the decorated ``def metrics(ctx)`` (see :data:`MetricsSetup`)."""
        if self.metrics_setup is not None:
            raise DefinitionError(f"{self!r} records its metrics setup twice")
        self.metrics_setup = setup
        return setup

    def _action_problems(self, defined: set[str]) -> list[str]:
        problems = [
            f"action {name!r} is defined but has no handler (add @<package>.action({name!r}))"
            for name in sorted(defined - set(self.action_handlers))
        ]
        problems += [
            f"a handler is registered for action {name!r}, which the definition does not declare"
            for name in sorted(set(self.action_handlers) - defined)
        ]
        return problems


class Integration(_ActionRegistry):
    """An integration: its definition and its handlers."""

    def __init__(
        self, definition: IntegrationDefinition, *, max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    ) -> None:
        super().__init__()
        if max_body_bytes < 1:
            raise DefinitionError(
                f"{definition.name}: max_body_bytes must be a positive number of bytes, "
                f"not {max_body_bytes}"
            )
        self.definition = definition
        self.max_body_bytes = max_body_bytes
        self.message_senders: dict[tuple[str, str], MessageSender] = {}
        self.event_senders: dict[str, EventSender] = {}
        self.routes_factory: RoutesFactory | None = None
        self.register_handler: LifecycleHandler | None = None
        self.unregister_handler: LifecycleHandler | None = None
        self.online_check: OnlineCheck | None = None

    def __repr__(self) -> str:
        return f"<Integration {self.definition.name} {self.definition.version}>"

    def sender(self, channel: str, message_type: str | None = None) -> Callable[[_F], _F]:
        """Record the decorated function as the sender of ``message_type`` on ``channel``, or
        of every message type the channel declares when ``message_type`` is left out."""

        def record(handler: _F) -> _F:
            if message_type is not None:
                self.message_senders[(channel, message_type)] = handler
                return handler
            for each in self._channel(channel).messages:
                self.message_senders[(channel, each)] = handler
            return handler

        return record

    def event_sender(self, channel: str) -> Callable[[_F], _F]:
        """Record the decorated function as the sender of custom events on ``channel``.

        Having one is how a channel says it takes events: ``Context.send_event`` refuses a
        conversation whose channel has none.
        """

        def record(handler: _F) -> _F:
            self._channel(channel)
            self.event_senders[channel] = handler
            return handler

        return record

    def _channel(self, channel: str) -> ChannelDefinition:
        declared = self.definition.all_channels.get(channel)
        if declared is None:
            raise DefinitionError(
                f"{self.definition.name} declares no channel {channel!r} "
                f"(channels: {', '.join(self.definition.all_channels) or 'none'})"
            )
        return declared

    def routes(self, factory: _R) -> _R:
        """Record the decorated ``def routes(ctx)`` (see :data:`RoutesFactory`).

        The server mounts what it returns under ``/webhooks/<alias>/`` for each alias, behind
        the integration's request body limit (``max_body_bytes``, answered with 413).
        """
        if self.routes_factory is not None:
            raise DefinitionError(f"{self.definition.name} records its routes twice")
        self.routes_factory = factory
        return factory

    def on_register(self, handler: _F) -> _F:
        self.register_handler = handler
        return handler

    def on_unregister(self, handler: _F) -> _F:
        self.unregister_handler = handler
        return handler

    def on_check(self, handler: _F) -> _F:
        """Record the check ``patchwire check --online`` runs (see :data:`OnlineCheck`)."""
        self.online_check = handler
        return handler

    def problems(self) -> list[str]:
        """Every way the handlers fail to cover the definition; empty when consistent."""
        problems = self._action_problems(set(self.definition.all_actions))
        expected = {
            (channel, message_type)
            for channel, definition in self.definition.all_channels.items()
            for message_type in definition.messages
        }
        problems += [
            f"channel {channel!r} message type {message_type!r} has no sender "
            f"(add @<integration>.sender({channel!r}, {message_type!r}))"
            for channel, message_type in sorted(expected - set(self.message_senders))
        ]
        problems += [
            f"a sender is registered for {channel!r}/{message_type!r}, which no channel declares"
            for channel, message_type in sorted(set(self.message_senders) - expected)
        ]
        return problems


class Plugin(_ActionRegistry):
    """A plugin: its definition, action handlers and hook implementations."""

    def __init__(self, definition: PluginDefinition) -> None:
        super().__init__()
        self.definition = definition
        self.hook_implementations: dict[str, HookImplementation] = {}

    def __repr__(self) -> str:
        return f"<Plugin {self.definition.name} {self.definition.version}>"

    def hook(self, implementation: _F) -> _F:
        """Record the decorated coroutine function as this plugin's implementation of a hook.

        The function's name is the hook's name (``before_incoming_message``, ...).
        """
        self.hook_implementations[implementation.__name__] = implementation
        return implementation

    def problems(self) -> list[str]:
        return self._action_problems(set(self.definition.actions))
