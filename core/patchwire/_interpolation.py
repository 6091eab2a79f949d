"""``${VAR}`` in agent.toml: secrets come from the environment, never from the file.

``${VAR}`` is replaced by the variable's value; ``${VAR:-default}`` by the default when the
variable is unset or empty (as in a POSIX shell); ``$$`` is a literal ``$``. An unset variable
without a default is a problem naming the variable and the key that uses it, never an empty
string.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from patchwire._config import dotted
from patchwire._problems import Problem

__all__ = ["interpolate"]

_TOKEN = re.compile(r"\$(?:(?P<dollar>\$)|\{(?P<body>[^}]*)\}|(?P<open>\{))")
_BODY = re.compile(r"(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?::-(?P<default>.*))?", re.DOTALL)


def interpolate(
    value: Any, environ: Mapping[str, str], path: Sequence[str | int]
) -> tuple[Any, list[Problem]]:
    """``value`` with every string's references replaced, and a problem per unusable one.

    Strings with problems keep the text that could be substituted; callers must not use the
    value when problems are returned.
    """
    problems: list[Problem] = []
    return _walk(value, environ, list(path), problems), problems


def _walk(value: Any, environ: Mapping[str, str], path: list[str | int], out: list[Problem]) -> Any:
    if isinstance(value, str):
        return _substitute(value, environ, dotted(path), out)
    if isinstance(value, Mapping):
        return {key: _walk(item, environ, [*path, key], out) for key, item in value.items()}
    if isinstance(value, list):
        return [_walk(item, environ, [*path, index], out) for index, item in enumerate(value)]
    return value


def _substitute(text: str, environ: Mapping[str, str], location: str, out: list[Problem]) -> str:
    def replace(match: re.Match[str]) -> str:
        if match["dollar"]:
            return "$"
        if match["open"]:
            out.append(
                Problem(
                    "bad-interpolation",
                    location,
                    f"'${{' at character {match.start() + 1} of {text!r} is never closed",
                    "write ${NAME} or ${NAME:-default}, or $${ for a literal '${'",
                )
            )
            return ""
        body = _BODY.fullmatch(match["body"])
        if body is None:
            out.append(
                Problem(
                    "bad-interpolation",
                    location,
                    f"{match[0]!r} is not a variable reference",
                    "write ${NAME} or ${NAME:-default} with NAME made of letters, digits and "
                    "'_', not starting with a digit",
                )
            )
            return ""
        name, default = body["name"], body["default"]
        found = environ.get(name)
        if default is not None and not found:
            return default
        if found is None:
            out.append(
                Problem(
                    "env-unset",
                    location,
                    f"environment variable {name} is not set",
                    f"set it (export {name}=...) or give a default: ${{{name}:-value}}",
                )
            )
            return ""
        return found

    return _TOKEN.sub(replace, text)
