"""``patchwire check [PATH]``: resolve an agent without running it, one line per problem."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from patchwire._config import AgentConfig
    from patchwire._problems import Problem
    from patchwire._resolver import Resolution

__all__ = ["check"]

EXIT_PROBLEMS = 1
EXIT_USAGE = 2


def check(
    path: Annotated[
        Path, typer.Argument(help="An agent folder or its agent.toml.", show_default=True)
    ] = Path("."),
    json_output: Annotated[
        bool, typer.Option("--json", help="Print one JSON object for tools instead of lines.")
    ] = False,
    online: Annotated[
        bool,
        typer.Option("--online", help="Also ask each outside system whether the credentials work."),
    ] = False,
) -> None:
    """Resolve agent.toml, import the agent code apart; exit 1 when anything is wrong."""
    from patchwire._config import config_path, load_config
    from patchwire._errors import ConfigError
    from patchwire._resolver import Resolution, run

    file = config_path(path)
    name: str | None = None
    try:
        config = load_config(file)
    except ConfigError as error:
        resolution = Resolution(problems=error.problems)
    else:
        name = config.name
        resolution = run(config)
        resolution.problems += _code_problems(config, resolution)
        if online and resolution.agent is not None:
            import asyncio

            from patchwire._online import check_online

            resolution.problems += asyncio.run(check_online(resolution.agent))
    usage = any(problem.code == "no-config" for problem in resolution.problems)
    if json_output:
        report = {
            "path": str(file),
            "ok": not resolution.problems,
            "agent": name,
            "problems": [problem.as_dict() for problem in resolution.problems],
            "notes": [note.as_dict() for note in resolution.notes],
        }
        typer.echo(json.dumps(report, indent=2))
    else:
        _print_lines(file, resolution.problems, resolution.notes)
        if resolution.agent is not None and not resolution.problems:
            agent = resolution.agent
            typer.echo(
                f"{file}: ok: agent {agent.name!r} resolves "
                f"({_count(len(agent.integrations), 'integration')}, "
                f"{_count(len(agent.plugins), 'plugin')})"
            )
        else:
            count = _count(len(resolution.problems), "problem")
            typer.echo(f"{file}: {count}")
    if usage:
        raise typer.Exit(EXIT_USAGE)
    if resolution.problems:
        raise typer.Exit(EXIT_PROBLEMS)


def _code_problems(config: AgentConfig, resolution: Resolution) -> list[Problem]:
    """The agent module's import problems, else its channels no integration offers."""
    from patchwire._agent_code import channel_problems, import_in_child

    report = import_in_child(config.module_path)
    return report.problems + channel_problems(
        config.module_path, report.channels, config.integrations, resolution.channels
    )


def _print_lines(file: Path, problems: list[Problem], notes: list[Problem]) -> None:
    for problem in problems:
        code = typer.style(problem.code, fg="red", bold=True)
        typer.echo(f"{file}: {code} {_rest(problem)}")
    for note in notes:
        code = typer.style(note.code, fg="yellow")
        typer.echo(f"{file}: note {code} {_rest(note)}")


def _rest(problem: Problem) -> str:
    return str(problem).removeprefix(f"{problem.code} ")


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}" if number == 1 else f"{number} {noun}s"
