"""``patchwire demo``: the whole handoff on this machine, nothing to configure."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Annotated

import typer

__all__ = ["demo"]


def demo(
    path: Annotated[
        Path | None,
        typer.Argument(help="An agent folder binding generic-hitl (default: the example agent)."),
    ] = None,
    port: Annotated[
        int | None,
        typer.Option(help="The agent's port [default: 8080, or a free one if it is taken]."),
    ] = None,
    desk_port: Annotated[
        int | None,
        typer.Option(help="The desk's port [default: 8090, or a free one if it is taken]."),
    ] = None,
    data: Annotated[
        Path | None,
        typer.Option(
            help="Keep the agent's and the desk's SQLite files here (default: a "
            "temporary folder, removed on exit)."
        ),
    ] = None,
) -> None:
    """Run an example agent and the agent desk, and hand a chat to yourself."""
    import asyncio

    from patchwire import PatchwireError
    from patchwire.cli._serve import agent_folder, exit_on_problems
    from patchwire.demo import DEMO_DESK_AGENT, Demo, demo_agent_folder

    try:
        folder = agent_folder(path) if path is not None else demo_agent_folder()
    except PatchwireError as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(1) from None
    with tempfile.TemporaryDirectory(prefix="patchwire-demo-") as scratch:
        session = Demo(
            folder,
            (data or Path(scratch)).resolve(),
            agent_port=_port(port, 8080, "--port"),
            desk_port=_port(desk_port, 8090, "--desk-port"),
        )
        session.configure()
        exit_on_problems(folder)

        def ready() -> None:
            typer.echo(f"talk to the bot here:      {session.agent_url}/webchat")
            typer.echo(f"answer as a human here:    {session.desk_url}/")
            typer.echo(
                f"log in to the desk as:     {DEMO_DESK_AGENT}, password {session.desk_password}"
            )
            typer.echo("type /starthitl in the chat to hand it to the desk; Ctrl-C stops both")

        try:
            asyncio.run(session.serve(ready))
        except PatchwireError as error:
            typer.echo(f"error: {error}", err=True)
            raise typer.Exit(1) from None
    typer.echo("stopped")


def _port(given: int | None, default: int, option: str) -> int:
    """The port asked for, which must be free; without one, ``default`` or any free port."""
    from patchwire.server import free_port
    from patchwire.server._ports import port_is_free

    if given is None:
        return free_port(default)
    if not port_is_free(given):
        typer.echo(
            f"error: port {given} ({option} {given}) is in use on 127.0.0.1: stop what listens "
            f"there, pass another {option}, or leave {option} out to use a free port",
            err=True,
        )
        raise typer.Exit(1)
    return given
