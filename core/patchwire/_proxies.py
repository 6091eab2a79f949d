"""Typed action proxies: ``<namespace>.<alias>.actions.<name>(**input)``.

An action call validates its input with the action's model (so a bad field is reported before
any package code runs), awaits the handler, and validates what the handler returned. Bound
callables are cached on first access, so a call costs one attribute lookup, not a per-call
``__getattr__``.
"""

from __future__ import annotations

import difflib
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from pydantic import BaseModel, ValidationError

from patchwire._definitions import ActionDefinition
from patchwire._errors import ActionInputError, ActionNotFoundError, ActionOutputError

__all__ = ["ActionCall", "Actions", "Namespace", "bind_action"]

ActionCall = Callable[..., Awaitable[BaseModel]]
Invoke = Callable[[BaseModel], Awaitable[Any]]


def _suggest(name: str, choices: list[str]) -> str:
    close = difflib.get_close_matches(name, choices, n=1)
    hint = f"did you mean {close[0]!r}? " if close else ""
    return f"{hint}available: {', '.join(sorted(choices)) or 'none'}"


def bind_action(qualified_name: str, definition: ActionDefinition, invoke: Invoke) -> ActionCall:
    """An async callable taking the action's input as keyword arguments."""
    input_model = definition.input
    output_model = definition.output

    async def call(**arguments: Any) -> BaseModel:
        try:
            validated = input_model.model_validate(arguments)
        except ValidationError as error:
            raise ActionInputError(qualified_name, error) from None
        result = await invoke(validated)
        if isinstance(result, output_model):
            return result
        try:
            return output_model.model_validate(
                result.model_dump() if isinstance(result, BaseModel) else result
            )
        except ValidationError as error:
            raise ActionOutputError(qualified_name, error) from None

    call.__name__ = qualified_name.rsplit(".", 1)[-1]
    call.__qualname__ = qualified_name
    return call


class Actions:
    """The actions of one package instance, as attributes."""

    def __init__(self, owner: str, calls: Mapping[str, ActionCall]) -> None:
        self._owner = owner
        self._calls = dict(calls)

    def __getattr__(self, name: str) -> ActionCall:
        if name.startswith("_"):
            raise AttributeError(name)
        try:
            call = self._calls[name]
        except KeyError:
            raise ActionNotFoundError(
                f"{self._owner} has no action {name!r} ({_suggest(name, list(self._calls))})"
            ) from None
        self.__dict__[name] = call
        return call

    def __dir__(self) -> list[str]:
        return sorted(self._calls)


class _Entry:
    def __init__(self, actions: Actions) -> None:
        self.actions = actions


class Namespace:
    """``plugins``, ``integrations`` or ``interfaces``: one entry per alias."""

    def __init__(self, kind: str, entries: Mapping[str, Actions]) -> None:
        self._kind = kind
        self._entries = {alias: _Entry(actions) for alias, actions in entries.items()}

    def __getattr__(self, alias: str) -> _Entry:
        if alias.startswith("_"):
            raise AttributeError(alias)
        try:
            entry = self._entries[alias]
        except KeyError:
            raise ActionNotFoundError(
                f"no {self._kind} alias {alias!r} in this agent "
                f"({_suggest(alias, list(self._entries))})"
            ) from None
        self.__dict__[alias] = entry
        return entry

    def __getitem__(self, alias: str) -> _Entry:
        """For aliases that are not identifiers, such as ``generic-hitl``."""
        return self.__getattr__(alias)

    def __dir__(self) -> list[str]:
        return sorted(self._entries)
