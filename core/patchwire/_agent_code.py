"""Agent code as ``patchwire check`` sees it: imported in a child process, its channels checked.

The import runs in a child process so that agent code which exits, hangs or crashes while
being imported is one problem line, not the end of the command. What the child sends back is
either the problem, or the channel names its ``Conversation`` objects handle; those are then
checked against the channels the configured integrations offer (``serve`` and ``dev`` run the
same channel check on the code they import themselves).
"""

from __future__ import annotations

import ast
import json
import os
import signal
import subprocess
import sys
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from patchwire._config import did_you_mean
from patchwire._problems import Problem

if TYPE_CHECKING:
    from patchwire.runtime import Conversation

__all__ = ["CodeReport", "channel_problems", "channels_of", "import_in_child"]

IMPORT_TIMEOUT = 60.0
"""Seconds an agent module may take to import; importing should only define handlers."""


@dataclass(frozen=True)
class CodeReport:
    """What importing the agent code found: its problems, else the channels it handles."""

    problems: list[Problem] = field(default_factory=list)
    channels: list[str] = field(default_factory=list)


def import_in_child(path: Path, timeout: float = IMPORT_TIMEOUT) -> CodeReport:
    """Import the agent module at ``path`` in a fresh interpreter and report on it."""
    # -P: the working directory is not importable, as for the installed `patchwire` script.
    command = [sys.executable, "-P", "-m", "patchwire._agent_code", str(path)]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        return CodeReport(
            problems=[
                Problem(
                    "agent-timeout",
                    str(path),
                    f"importing it took longer than {timeout:g} s",
                    "import should only define handlers: move slow work into a handler",
                )
            ]
        )
    lines = done.stdout.splitlines()
    if done.returncode != 0 or not lines:
        said = done.stderr.strip().splitlines()
        return CodeReport(
            problems=[
                Problem(
                    "agent-crashed",
                    str(path),
                    f"importing it ended the process ({_ending(done.returncode)}"
                    + (f", last words: {said[-1].strip()!r})" if said else ")"),
                    f"run `python {path}` to see why",
                )
            ]
        )
    sent = json.loads(lines[-1])
    if "problem" in sent:
        return CodeReport(problems=[Problem(**sent["problem"])])
    return CodeReport(channels=list(sent["channels"]))


def _ending(returncode: int) -> str:
    """``exit code 4``, or the signal that ended the process (a negative return code)."""
    if returncode >= 0:
        return f"exit code {returncode}"
    try:
        return f"killed by {signal.Signals(-returncode).name}"
    except ValueError:
        return f"killed by signal {-returncode}"


def channels_of(conversations: Iterable[Conversation]) -> list[str]:
    """Every channel name the ``Conversation`` objects handle, once each, in order."""
    names = (name for conversation in conversations for name in conversation.channels)
    return list(dict.fromkeys(names))


def channel_problems(
    path: Path,
    channels: Iterable[str],
    declared: Collection[str],
    offered: Mapping[str, Collection[str]],
) -> list[Problem]:
    """A problem per channel name no configured integration offers.

    ``declared`` are the integration aliases of agent.toml; ``offered`` the channels of those
    whose package loaded. A channel of a declared alias that is not in ``offered`` (disabled,
    or its package missing or broken) is not checked: agent.toml's problems already say why.
    """
    everything = [f"{alias}.{channel}" for alias, names in offered.items() for channel in names]
    problems = []
    for name in channels:
        alias, _, channel = name.partition(".")
        if alias not in declared:
            what = f"channel {name!r}: {alias!r} is not an integration alias in agent.toml"
        elif alias in offered and channel not in offered[alias]:
            what = f"channel {name!r}: integration {alias!r} has no channel {channel!r}"
        else:
            continue
        line = _line_of(path, name)
        problems.append(
            Problem(
                "unknown-channel",
                f"{path}:{line}" if line is not None else str(path),
                f"{what}, so its handler would never run",
                did_you_mean(name, everything)
                + f"channels offered: {', '.join(everything) or 'none'}",
            )
        )
    return problems


def _line_of(path: Path, text: str) -> int | None:
    """The first line of ``path`` holding the string literal ``text``, if there is one."""
    try:
        tree = ast.parse(path.read_text(encoding="utf-8"))
    except (OSError, SyntaxError, ValueError):
        return None
    lines = [
        node.lineno
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and node.value == text
    ]
    return min(lines, default=None)


def _child(path: Path) -> None:
    """``python -m patchwire._agent_code PATH``: one JSON line on the original stdout.

    Whatever the agent code prints goes to stderr, so it cannot be taken for the answer.
    """
    from patchwire.runtime import AgentCodeError, load_agent_code

    answer = os.fdopen(os.dup(1), "w", encoding="utf-8")
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    try:
        code = load_agent_code(path)
    except AgentCodeError as error:
        sent: dict[str, object] = {"problem": error.problem.as_dict()}
    else:
        sent = {"channels": channels_of(code.conversations)}
    answer.write(json.dumps(sent) + "\n")
    answer.close()
    sys.stderr.flush()
    os._exit(0)  # threads the agent code started must not keep the check waiting


if __name__ == "__main__":
    _child(Path(sys.argv[1]))
