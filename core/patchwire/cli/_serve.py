"""``patchwire serve`` (production) and ``patchwire dev`` (local, reloads on change)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any

import typer

__all__ = ["dev", "serve"]

AgentPath = Annotated[
    Path, typer.Argument(help="The agent folder (holding agent.toml), or its config file.")
]
Host = Annotated[str, typer.Option(help="Interface to listen on.")]
Port = Annotated[int, typer.Option(help="Port to listen on.")]


def agent_folder(path: Path) -> Path:
    """The agent as the server loads it: a folder with agent.toml, or a config file by name."""
    from patchwire._config import config_path

    if not config_path(path).is_file():
        typer.echo(
            f"error: no {config_path(path)} (create an agent with `patchwire init`)", err=True
        )
        raise typer.Exit(2)
    return path.resolve()


def exit_on_problems(folder: Path) -> None:
    """Fail fast with the check's own lines before any server starts."""
    problems = _problems(folder)
    if problems:
        for problem in problems:
            typer.echo(problem, err=True)
        raise typer.Exit(1)


def _problems(folder: Path) -> list[str]:
    """What keeps the agent from starting, one line each: its config, then its code.

    The code is imported here, once, so that a missing file, a syntax error or a failing
    import is one line naming the file and line rather than a server's startup traceback.
    """
    from patchwire._config import config_path, load_config
    from patchwire._errors import ConfigError
    from patchwire._resolver import run
    from patchwire.runtime import AgentCodeError, load_agent_code

    try:
        resolution = run(load_config(folder))
    except ConfigError as error:
        return [f"{config_path(folder)}: {problem}" for problem in error.problems]
    if resolution.agent is None:
        return [f"{config_path(folder)}: {problem}" for problem in resolution.problems]
    if resolution.agent.module is not None:
        try:
            load_agent_code(resolution.agent.module)
        except AgentCodeError as error:
            return [f"error: {error}"]
    return []


def _prepare(folder: Path, database_url: str | None, public_url: str | None = None) -> None:
    os.environ["PATCHWIRE_AGENT"] = str(folder)
    if database_url:
        os.environ["PATCHWIRE_DATABASE_URL"] = database_url
    if public_url:
        os.environ["PATCHWIRE_PUBLIC_URL"] = public_url


def _public_url(value: str | None) -> str | None:
    from patchwire._config import public_url_problem

    if value is None:
        return None
    wrong = public_url_problem(value.rstrip("/"))
    if wrong is not None:
        raise typer.BadParameter(wrong)
    return value.rstrip("/")


def _print_urls(folder: Path, host: str, port: int) -> None:
    from patchwire._config import load_config

    base = f"http://{'127.0.0.1' if host in ('0.0.0.0', '::') else host}:{port}"
    typer.echo(f"agent: {base}  (health: {base}/healthz)")
    for alias in load_config(folder).integrations:
        typer.echo(f"  {alias}: {base}/webhooks/{alias}")


async def _register(folder: Path) -> None:
    from rich.console import Console

    from patchwire.server import open_agent

    console = Console(stderr=True)
    loaded = await open_agent(folder)
    try:
        for alias, integration in loaded.runtime.registrations():
            with console.status(f"registering {alias} ..."):
                try:
                    await integration(loaded.runtime.context(alias, "integration"))
                except Exception as error:
                    console.print(f"[red]registering {alias} failed:[/red] {error}")
                    raise typer.Exit(1) from error
            console.print(f"[green]registered[/green] {alias}")
    finally:
        await loaded.close()


def serve(
    path: AgentPath = Path("."),
    host: Host = "127.0.0.1",
    port: Port = 8080,
    workers: Annotated[int, typer.Option(min=1, help="Server processes.")] = 1,
    database_url: Annotated[
        str | None, typer.Option(help="Database URL (default: agent.toml, then a SQLite file).")
    ] = None,
    public_url: Annotated[
        str | None,
        typer.Option(
            callback=_public_url,
            help="Where outside systems reach this agent (default: agent.toml's public_url).",
        ),
    ] = None,
) -> None:
    """Run the agent for production: register integrations once, then serve."""
    import asyncio

    folder = agent_folder(path)
    exit_on_problems(folder)
    _prepare(folder, database_url, public_url)
    asyncio.run(_register(folder))
    _print_urls(folder, host, port)
    _run(
        "patchwire.server:create_app_from_env",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        timeout_graceful_shutdown=5,
        log_level="info",
    )


def dev(
    path: AgentPath = Path("."),
    host: Host = "127.0.0.1",
    port: Port = 8080,
    watch_on_error: Annotated[
        bool,
        typer.Option(
            "--watch-on-error",
            help="When agent.toml or the agent code is broken, print why and wait for a fix "
            "instead of exiting.",
        ),
    ] = False,
) -> None:
    """Run the agent locally on a SQLite file, restarting when its folder changes."""
    folder = agent_folder(path)
    if watch_on_error:
        for problem in _problems(folder):
            typer.echo(problem, err=True)
    else:
        exit_on_problems(folder)
    _prepare(folder, None)
    _print_urls(folder, host, port)
    _run(
        "patchwire.server:create_app_from_env",
        factory=True,
        host=host,
        port=port,
        reload=True,
        reload_dirs=[str(folder if folder.is_dir() else folder.parent)],
        reload_excludes=[".patchwire/*"],
        timeout_graceful_shutdown=5,
        log_level="info",
    )


def _run(app: str, **options: Any) -> None:
    """Serve until Ctrl-C; exit 1 when the server could not start (uvicorn said why)."""
    import uvicorn

    from patchwire.server import run_server

    if options.get("workers", 1) > 1:
        # Each worker process runs uvicorn's own server: open streams hold its shutdown.
        uvicorn.run(app, **options)
        return
    if not run_server(uvicorn.Config(app, **options)):
        raise typer.Exit(1)
