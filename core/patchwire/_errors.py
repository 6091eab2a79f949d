"""Exceptions raised by patchwire.

PatchwireError
 ├── DefinitionError        a package's definition or implementation is inconsistent
 ├── PackageLoadError       an entry point could not be imported or validated
 ├── ConfigError            agent.toml (or define_config) cannot be resolved; carries every problem
 ├── ActionInputError       an action was called with input that fails its model
 ├── ActionOutputError      an action handler returned output that fails its model
 ├── ActionNotFoundError    an action name that the package does not define
 ├── AlreadyExistsError     a create whose identity tags another record already carries
 └── ReportedError          a failure the code already explained to the user (no error text)
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pydantic import ValidationError
    from pydantic_core import ErrorDetails

    from patchwire._problems import Problem

__all__ = [
    "ActionInputError",
    "ActionNotFoundError",
    "ActionOutputError",
    "AlreadyExistsError",
    "ConfigError",
    "DefinitionError",
    "PackageLoadError",
    "PatchwireError",
    "ReportedError",
    "error_message",
    "format_validation_error",
]


class PatchwireError(Exception):
    """Base class of every error patchwire raises on purpose."""


class AlreadyExistsError(PatchwireError):
    """A user or conversation with these identity tags exists already (nothing was created)."""

    def __init__(self, kind: str, identity: dict[str, str]) -> None:
        shown = ", ".join(f"{key}={value!r}" for key, value in sorted(identity.items()))
        super().__init__(f"a {kind} with {shown} exists already")
        self.kind = kind
        self.identity = identity


class ReportedError(PatchwireError):
    """A failure the raising code has already told the user about.

    When a handler or hook raises one, the runtime records the job as failed like any other
    error but does not send the ``[runtime] error_text`` on top of what the user was told.
    """


class DefinitionError(PatchwireError):
    """A definition contradicts itself: it names an entity it lacks, skips an action, ..."""


class PackageLoadError(PatchwireError):
    """An installed package could not be loaded; the message names its distribution."""

    def __init__(
        self, *, kind: str, name: str, distribution: str, version: str, reason: str
    ) -> None:
        self.kind = kind
        self.name = name
        self.distribution = distribution
        self.version = version
        self.reason = reason
        super().__init__(
            f"{kind} {name!r} from {distribution}=={version} cannot be loaded: {reason}"
        )


class ConfigError(PatchwireError):
    """The agent configuration has problems; ``problems`` lists every one of them."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        lines = "\n".join(f"  {problem}" for problem in problems)
        super().__init__(f"{len(problems)} problem(s) in the agent configuration:\n{lines}")


def error_message(item: ErrorDetails) -> str:
    """Pydantic's message for one error, without the "Value error, " prefix of validators."""
    message = item["msg"]
    if item["type"] == "value_error":
        message = message.removeprefix("Value error, ")
    return message


def format_validation_error(error: ValidationError) -> str:
    """One ``field.path: reason`` clause per bad field, joined by ``; ``.

    Public so that a package words its own validation failures (a webhook body, an online
    check's configuration) the way patchwire words agent.toml's.
    """
    parts = []
    for item in error.errors(include_url=False):
        location = ".".join(str(part) for part in item["loc"]) or "(root)"
        parts.append(f"{location}: {error_message(item)}")
    return "; ".join(parts)


class ActionNotFoundError(PatchwireError, AttributeError):
    """An action proxy was asked for an action the package does not define."""


class ActionInputError(PatchwireError, ValueError):
    """The input of an action call failed the action's input model."""

    def __init__(self, action: str, error: ValidationError) -> None:
        self.action = action
        self.validation_error = error
        super().__init__(f"bad input for action {action}: {format_validation_error(error)}")


class ActionOutputError(PatchwireError):
    """An action handler returned something its output model rejects: a bug in that package."""

    def __init__(self, action: str, error: ValidationError) -> None:
        self.action = action
        self.validation_error = error
        super().__init__(
            f"action {action} returned output its definition rejects "
            f"(a bug in the package that implements it): {format_validation_error(error)}"
        )
