"""``patchwire serve`` (production) and ``patchwire dev`` (local, reloads on change)."""

from __future__ import annotations

import contextlib
import logging
import logging.config
import os
from pathlib import Path
from typing import Annotated, Any

import typer

from patchwire._logs import LogFormat, log_config

__all__ = ["dev", "serve"]

logger = logging.getLogger("patchwire.cli")

AgentPath = Annotated[
    Path, typer.Argument(help="The agent folder (holding agent.toml), or its config file.")
]
Host = Annotated[str, typer.Option(help="Interface to listen on.")]
Port = Annotated[int, typer.Option(help="Port to listen on.")]
LogFormatOption = Annotated[
    LogFormat,
    typer.Option(
        help="text (uvicorn's), or json: one object a line with time, level, logger, message "
        "and the conversation's id where known.",
    ),
]


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


def exit_on_sqlite(folder: Path, database_url: str | None, workers: int) -> None:
    """Several server processes need PostgreSQL: SQLite takes one writing process."""
    from sqlalchemy.engine import make_url

    from patchwire._config import load_config
    from patchwire._resolver import resolve
    from patchwire.server import database_url_for

    url = database_url_for(resolve(load_config(folder)), database_url)
    if make_url(url).get_backend_name() == "sqlite":
        typer.echo(
            f"error: --workers {workers} needs PostgreSQL, but the database is SQLite ({url}), "
            "which takes one server process: give --database-url postgresql://... (or set "
            "$PATCHWIRE_DATABASE_URL, or database_url in agent.toml), or serve with --workers 1",
            err=True,
        )
        raise typer.Exit(2)


def _problems(folder: Path) -> list[str]:
    """What keeps the agent from starting, one line each: its config, then its code.

    The code is imported here, once, so that a missing file, a syntax error or a failing
    import is one line naming the file and line rather than a server's startup traceback; then
    its ``Conversation`` channels are checked against those the integrations offer.
    """
    from patchwire._agent_code import channel_problems, channels_of
    from patchwire._config import config_path, load_config
    from patchwire._errors import ConfigError
    from patchwire._resolver import run
    from patchwire.runtime import AgentCodeError, load_agent_code

    file = config_path(folder)
    try:
        config = load_config(folder)
    except ConfigError as error:
        return [f"{file}: {problem}" for problem in error.problems]
    resolution = run(config)
    if resolution.agent is None:
        return [f"{file}: {problem}" for problem in resolution.problems]
    if resolution.agent.module is None:
        return []
    try:
        code = load_agent_code(resolution.agent.module)
    except AgentCodeError as error:
        return [f"error: {error}"]
    unknown = channel_problems(
        resolution.agent.module,
        channels_of(code.conversations),
        config.integrations,
        resolution.channels,
    )
    return [f"{file}: {problem}" for problem in unknown]


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


async def _register(folder: Path, log_format: LogFormat) -> None:
    """Each integration's register step; shown on the terminal, or logged as JSON lines."""
    from rich.console import Console

    from patchwire.server import open_agent

    console = Console(stderr=True)
    logged = log_format is LogFormat.json
    if logged:
        logging.config.dictConfig(log_config(log_format))
    loaded = await open_agent(folder)
    try:
        for alias, integration in loaded.runtime.registrations():
            status = contextlib.nullcontext() if logged else console.status(f"registering {alias}")
            with status:
                try:
                    await integration(loaded.runtime.context(alias, "integration"))
                except Exception as error:
                    if logged:
                        logger.error("registering %s failed: %s", alias, error)
                    else:
                        console.print(f"[red]registering {alias} failed:[/red] {error}")
                    raise typer.Exit(1) from error
            if logged:
                logger.info("registered %s", alias)
            else:
                console.print(f"[green]registered[/green] {alias}")
    finally:
        await loaded.close()


def serve(
    path: AgentPath = Path("."),
    host: Host = "127.0.0.1",
    port: Port = 8080,
    workers: Annotated[
        int, typer.Option(min=1, help="Server processes on one port (PostgreSQL only).")
    ] = 1,
    database_url: Annotated[
        str | None, typer.Option(help="Database URL (default: agent.toml, then a SQLite file).")
    ] = None,
    log_format: LogFormatOption = LogFormat.text,
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
    if workers > 1:
        exit_on_sqlite(folder, database_url, workers)
    _prepare(folder, database_url, public_url)
    asyncio.run(_register(folder, log_format))
    _print_urls(folder, host, port)
    _run(
        "patchwire.server:create_app_from_env",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        timeout_graceful_shutdown=5,
        log_level="info",
        log_config=log_config(log_format),
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
    log_format: LogFormatOption = LogFormat.text,
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
        log_config=log_config(log_format),
    )


def _run(app: str, **options: Any) -> None:
    """Serve until Ctrl-C; exit 1 when the server could not start (uvicorn said why) or, with
    several workers, one of them died."""
    import tempfile

    import uvicorn

    from patchwire.metrics import MULTIPROCESS_ENV
    from patchwire.server import run_server

    config = uvicorn.Config(app, **options)
    if config.workers > 1 and not os.environ.get(MULTIPROCESS_ENV):
        with tempfile.TemporaryDirectory(prefix="patchwire-metrics-") as counts:
            os.environ[MULTIPROCESS_ENV] = counts  # the workers inherit it: see patchwire.metrics
            started = run_server(config)
    else:
        started = run_server(config)
    if not started:
        raise typer.Exit(1)
