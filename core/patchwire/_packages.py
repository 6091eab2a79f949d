"""Integration and Plugin: a definition plus the code that carries it out.

Handlers are recorded with decorators onto the object an entry point exposes, so the host can
introspect what a package implements before calling any of it. Each decorator checks at import
(when the package loads) that the function takes the parameters the runtime will pass, so a
mistake is an error naming the package and the function, not a failure on the first message.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any, Generic, Protocol, overload

from pydantic import BaseModel
from starlette.routing import BaseRoute
from typing_extensions import TypeVar

from patchwire._definitions import (
    ChannelDefinition,
    ConfigT,
    IntegrationDefinition,
    PluginDefinition,
)
from patchwire._errors import DefinitionError

if TYPE_CHECKING:
    from patchwire.runtime import Context, OutgoingMessage, Stop
    from patchwire.store import Event, Message

__all__ = [
    "DEFAULT_MAX_BODY_BYTES",
    "ActionHandler",
    "EventHook",
    "EventSender",
    "Integration",
    "LifecycleHandler",
    "MessageHook",
    "MessageSender",
    "MetricsSetup",
    "OnlineCheck",
    "OutgoingMessageHook",
    "Plugin",
    "RoutesFactory",
]

DEFAULT_MAX_BODY_BYTES = 1024 * 1024
"""The request body limit of an integration's routes unless it declares its own (1 MiB)."""

_C = TypeVar("_C", bound=BaseModel, default=BaseModel, contravariant=True)
_In = TypeVar("_In", default=Any, contravariant=True)
_Out = TypeVar("_Out", default=Any, covariant=True)
_I = TypeVar("_I")
_O = TypeVar("_O")


class ActionHandler(Protocol[_C, _In, _Out]):
    """``async def handler(ctx, input) -> output``: ``input`` is the validated input model."""

    def __call__(self, ctx: Context[_C], input: _In, /) -> Awaitable[_Out]: ...


class MessageSender(Protocol[_C]):
    """``async def send(ctx, message) -> None``: delivers one stored outgoing message."""

    def __call__(self, ctx: Context[_C], message: Message, /) -> Awaitable[object]: ...


class EventSender(Protocol[_C]):
    """``async def send_event(ctx, event) -> None``: delivers one custom event (the stored
    ``patchwire.store.Event``) into a conversation of its channel."""

    def __call__(self, ctx: Context[_C], event: Event, /) -> Awaitable[object]: ...


class RoutesFactory(Protocol[_C]):
    """``def routes(ctx) -> [Route(...), Mount(...), ...]``: what an integration serves under
    ``/webhooks/<alias>/``, built once per alias with that alias's ``Context``. A
    ``Mount("", app=...)`` serves a whole ASGI app; a route's or a mount's ``middleware=`` adds
    the integration's own."""

    def __call__(self, ctx: Context[_C], /) -> Sequence[BaseRoute]: ...


class LifecycleHandler(Protocol[_C]):
    """``async def register(ctx)``: sets up (or tears down) the outside system, idempotently."""

    def __call__(self, ctx: Context[_C], /) -> Awaitable[object]: ...


class MetricsSetup(Protocol[_C]):
    """``def metrics(ctx) -> None``: registers a package's instruments and read gauges on
    ``ctx.metrics``, once per alias when the runtime starts (see docs/authoring.md, "Metrics")."""

    def __call__(self, ctx: Context[_C], /) -> None: ...


class OnlineCheck(Protocol[_C]):
    """``async def check(configuration) -> problems``: asks the outside system whether the
    agent's configuration (address, credentials) works; an empty list means it does."""

    def __call__(self, configuration: _C, /) -> Awaitable[list[str]]: ...


class MessageHook(Protocol[_C]):
    """``before_incoming_message``, ``after_incoming_message``, ``after_outgoing_message``:
    ``async def hook(ctx, message)``; a ``before_*`` hook returns STOP to stop the message."""

    def __call__(
        self, ctx: Context[_C], message: Message, /
    ) -> Awaitable[Message | Stop | None]: ...


class EventHook(Protocol[_C]):
    """``before_incoming_event``, ``after_incoming_event``: ``async def hook(ctx, event)``."""

    def __call__(self, ctx: Context[_C], event: Event, /) -> Awaitable[Event | Stop | None]: ...


class OutgoingMessageHook(Protocol[_C]):
    """``before_outgoing_message``: ``async def hook(ctx, message)`` with the message not yet
    stored; return STOP, or a changed ``OutgoingMessage``."""

    def __call__(
        self, ctx: Context[_C], message: OutgoingMessage, /
    ) -> Awaitable[OutgoingMessage | Stop | None]: ...


AnyHook = MessageHook[Any] | EventHook[Any] | OutgoingMessageHook[Any]


def check_signature(package: str, role: str, function: object, parameters: str) -> None:
    """Refuse a handler the runtime could not call: one taking other than ``parameters``
    (such as ``(ctx, input)``) positionally, or, but for a routes factory, a non-async one."""
    name = getattr(function, "__qualname__", None) or repr(function)
    if not callable(function):
        raise DefinitionError(f"{package}: the {role} {name} is not a function")
    count = len(parameters.strip("()").split(","))
    try:
        signature = inspect.signature(function)
    except (TypeError, ValueError):  # a builtin without a signature: the call will tell
        return
    try:
        signature.bind(*range(count))
    except TypeError:
        raise DefinitionError(
            f"{package}: the {role} {name}{signature} must take {count} positional "
            f"parameter{'s' if count > 1 else ''} {parameters}"
        ) from None
    if role != "routes factory" and not _is_async(function):
        raise DefinitionError(
            f"{package}: the {role} {name} must be an async function "
            f"(async def {name.rpartition('.')[2]}{parameters})"
        )


def _is_async(function: object) -> bool:
    return inspect.iscoroutinefunction(function) or inspect.iscoroutinefunction(
        getattr(function, "__call__", None)  # noqa: B004 - an object with async __call__
    )


class _ActionRegistry(Generic[ConfigT]):
    def __init__(self, package: str) -> None:
        self._package = package
        self.action_handlers: dict[str, ActionHandler[ConfigT, Any, Any]] = {}
        self.metrics_setup: MetricsSetup[ConfigT] | None = None

    def action(
        self, name: str
    ) -> Callable[[ActionHandler[ConfigT, _I, _O]], ActionHandler[ConfigT, _I, _O]]:
        """Record the decorated ``async def handler(ctx, input)`` as action ``name``'s."""

        def record(handler: ActionHandler[ConfigT, _I, _O]) -> ActionHandler[ConfigT, _I, _O]:
            check_signature(self._package, f"handler of action {name!r}", handler, "(ctx, input)")
            if name in self.action_handlers:
                raise DefinitionError(f"{self._package}: action {name!r} has two handlers")
            self.action_handlers[name] = handler
            return handler

        return record

    def metrics(self, setup: MetricsSetup[ConfigT]) -> MetricsSetup[ConfigT]:
        """Record the decorated ``def metrics(ctx)`` (see :class:`MetricsSetup`)."""
        if self.metrics_setup is not None:
            raise DefinitionError(f"{self._package}: the metrics setup is recorded twice")
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


class Integration(_ActionRegistry[ConfigT]):
    """An integration: its definition and its handlers, whose ``ctx`` is a ``Context[ConfigT]``."""

    def __init__(
        self,
        definition: IntegrationDefinition[ConfigT],
        *,
        max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    ) -> None:
        super().__init__(definition.name)
        if max_body_bytes < 1:
            raise DefinitionError(
                f"{definition.name}: max_body_bytes must be a positive number of bytes, "
                f"not {max_body_bytes}"
            )
        self.definition = definition
        self.max_body_bytes = max_body_bytes
        self.message_senders: dict[tuple[str, str], MessageSender[ConfigT]] = {}
        self.event_senders: dict[str, EventSender[ConfigT]] = {}
        self.routes_factory: RoutesFactory[ConfigT] | None = None
        self.register_handler: LifecycleHandler[ConfigT] | None = None
        self.unregister_handler: LifecycleHandler[ConfigT] | None = None
        self.online_check: OnlineCheck[ConfigT] | None = None

    def __repr__(self) -> str:
        return f"<Integration {self.definition.name} {self.definition.version}>"

    def sender(
        self, channel: str, message_type: str | None = None
    ) -> Callable[[MessageSender[ConfigT]], MessageSender[ConfigT]]:
        """Record the decorated ``async def send(ctx, message)`` as the sender of
        ``message_type`` on ``channel``, or of every message type the channel declares when
        ``message_type`` is left out."""

        def record(handler: MessageSender[ConfigT]) -> MessageSender[ConfigT]:
            types = [message_type] if message_type is not None else self._channel(channel).messages
            check_signature(
                self._package, f"sender of channel {channel!r}", handler, "(ctx, message)"
            )
            for each in types:
                self.message_senders[(channel, each)] = handler
            return handler

        return record

    def event_sender(self, channel: str) -> Callable[[EventSender[ConfigT]], EventSender[ConfigT]]:
        """Record the decorated ``async def send_event(ctx, event)`` as the sender of custom
        events on ``channel``.

        Having one is how a channel says it takes events: ``Context.send_event`` refuses a
        conversation whose channel has none.
        """

        def record(handler: EventSender[ConfigT]) -> EventSender[ConfigT]:
            self._channel(channel)
            check_signature(
                self._package, f"event sender of channel {channel!r}", handler, "(ctx, event)"
            )
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

    def routes(self, factory: RoutesFactory[ConfigT]) -> RoutesFactory[ConfigT]:
        """Record the decorated ``def routes(ctx)`` (see :class:`RoutesFactory`).

        The server mounts what it returns under ``/webhooks/<alias>/`` for each alias, behind
        the integration's request body limit (``max_body_bytes``, answered with 413).
        """
        check_signature(self._package, "routes factory", factory, "(ctx)")
        if self.routes_factory is not None:
            raise DefinitionError(f"{self.definition.name} records its routes twice")
        self.routes_factory = factory
        return factory

    def on_register(self, handler: LifecycleHandler[ConfigT]) -> LifecycleHandler[ConfigT]:
        """Record ``async def register(ctx)``, run by ``patchwire serve --register``."""
        check_signature(self._package, "register step", handler, "(ctx)")
        self.register_handler = handler
        return handler

    def on_unregister(self, handler: LifecycleHandler[ConfigT]) -> LifecycleHandler[ConfigT]:
        """Record ``async def unregister(ctx)``, the register step's undo."""
        check_signature(self._package, "unregister step", handler, "(ctx)")
        self.unregister_handler = handler
        return handler

    def on_check(self, handler: OnlineCheck[ConfigT]) -> OnlineCheck[ConfigT]:
        """Record the check ``patchwire check --online`` runs (see :class:`OnlineCheck`)."""
        check_signature(self._package, "online check", handler, "(configuration)")
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


class Plugin(_ActionRegistry[ConfigT]):
    """A plugin: its definition, action handlers and hook implementations."""

    def __init__(self, definition: PluginDefinition[ConfigT]) -> None:
        super().__init__(definition.name)
        self.definition = definition
        self.hook_implementations: dict[str, AnyHook] = {}

    def __repr__(self) -> str:
        return f"<Plugin {self.definition.name} {self.definition.version}>"

    @overload
    def hook(self, implementation: MessageHook[ConfigT]) -> MessageHook[ConfigT]: ...
    @overload
    def hook(self, implementation: EventHook[ConfigT]) -> EventHook[ConfigT]: ...
    @overload
    def hook(
        self, implementation: OutgoingMessageHook[ConfigT]
    ) -> OutgoingMessageHook[ConfigT]: ...
    def hook(self, implementation: Any) -> Any:
        """Record the decorated ``async def <hook>(ctx, message or event)`` as this plugin's
        implementation of the hook its name names (``before_incoming_message``, ...)."""
        name = getattr(implementation, "__name__", "")
        parameter = "event" if name.endswith("_event") else "message"
        check_signature(self._package, "hook", implementation, f"(ctx, {parameter})")
        if name in self.hook_implementations:
            raise DefinitionError(f"{self._package}: hook {name!r} is implemented twice")
        self.hook_implementations[name] = implementation
        return implementation

    def problems(self) -> list[str]:
        return self._action_problems(set(self.definition.actions))
