"""Agent code: ``Conversation`` handlers and loading the agent module."""

from __future__ import annotations

import importlib.util
import sys
import traceback
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, overload

from patchwire._errors import PatchwireError
from patchwire._problems import Problem

if TYPE_CHECKING:
    from patchwire.runtime._message_context import EventContext, MessageContext

__all__ = ["AgentCode", "Conversation", "load_agent_code"]

MessageHandler = Callable[["MessageContext"], Awaitable[Any]]
EventHandler = Callable[["EventContext"], Awaitable[Any]]


class Conversation:
    """Handles the messages of conversations on the listed channels.

    ``channel`` names are ``"<integration alias>.<channel>"``, e.g. ``"chat.channel"``. Use it
    directly, ``Conversation(channel=[...], handler=fn)``, or as a decorator,
    ``@Conversation(channel=[...])``. ``on_event`` receives the events of those conversations
    (for example ``hitl.continue_workflow``).
    """

    def __init__(
        self,
        *,
        channel: str | Sequence[str],
        handler: MessageHandler | None = None,
        on_event: EventHandler | None = None,
    ) -> None:
        channels = [channel] if isinstance(channel, str) else list(channel)
        for name in channels:
            if name.count(".") != 1:
                raise ValueError(
                    f"channel {name!r} is not '<integration alias>.<channel>' (e.g. 'chat.channel')"
                )
        self.channels = tuple(channels)
        self.handler = handler
        self.on_event = on_event

    @overload
    def __call__(self, handler: MessageHandler) -> Conversation: ...
    @overload
    def __call__(self, handler: None = None) -> Conversation: ...

    def __call__(self, handler: MessageHandler | None = None) -> Conversation:
        if handler is None:
            raise TypeError("use @Conversation(channel=[...]) on an async function")
        self.handler = handler
        return self

    def event(self, handler: EventHandler) -> EventHandler:
        """Decorator form of ``on_event``."""
        self.on_event = handler
        return handler

    def handles(self, channel: str) -> bool:
        return channel in self.channels


@dataclass(frozen=True)
class AgentCode:
    """The agent module and the conversations it declares."""

    path: Path | None
    conversations: tuple[Conversation, ...]

    def for_channel(self, channel: str) -> list[Conversation]:
        return [
            conversation for conversation in self.conversations if conversation.handles(channel)
        ]


class AgentCodeError(PatchwireError):
    """The agent module cannot be imported or declares nothing to run.

    Reads ``file:line: what failed: what to do``; ``problem`` is the same as ``patchwire
    check`` reports it.
    """

    def __init__(self, code: str, where: str, what: str, todo: str) -> None:
        self.problem = Problem(code, where, what, todo)
        super().__init__(f"{where}: {what}: {todo}")


def _import_failure(path: Path, error: BaseException) -> AgentCodeError:
    """The failure at the agent's own line where it broke."""
    if isinstance(error, SyntaxError):
        where = f"{error.filename or path}:{error.lineno}"
        return AgentCodeError(
            "agent-syntax", where, f"{type(error).__name__}: {error.msg}", "fix it and run again"
        )
    frames = [
        frame
        for frame in traceback.extract_tb(error.__traceback__)
        if not frame.filename.startswith("<")  # importlib's own frames
    ]
    own = [frame for frame in frames if Path(frame.filename).is_relative_to(path.parent)]
    frame = (own or frames)[-1]
    if isinstance(error, ModuleNotFoundError):
        todo = f"install what provides {error.name!r} where patchwire runs, or fix the import"
    else:
        todo = "fix the code there and run again"
    return AgentCodeError(
        "agent-import",
        f"{frame.filename}:{frame.lineno}",
        f"{type(error).__name__}: {error} (while importing {path.name})",
        todo,
    )


def load_agent_code(path: Path) -> AgentCode:
    """Import the agent module from its file and collect its ``Conversation`` objects."""
    if not path.is_file():
        raise AgentCodeError(
            "no-agent-code",
            str(path),
            "the agent code does not exist",
            "create it (patchwire init writes one), or set `module` in agent.toml",
        )
    name = f"_patchwire_agent_{uuid.uuid4().hex[:8]}"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise AgentCodeError(
            "agent-import", str(path), "not an importable Python file", "name a .py file"
        )
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except (Exception, SystemExit) as error:
        del sys.modules[name]
        raise _import_failure(path, error) from None
    conversations = tuple(
        value for value in vars(module).values() if isinstance(value, Conversation)
    )
    for conversation in conversations:
        if conversation.handler is None:
            raise AgentCodeError(
                "no-handler",
                str(path),
                f"a Conversation on {', '.join(conversation.channels)} has no handler",
                "pass handler=... or use it as a decorator on an async function",
            )
    return AgentCode(path=path, conversations=conversations)
