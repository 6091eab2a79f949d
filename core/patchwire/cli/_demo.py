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
    port: Annotated[int, typer.Option(help="The agent's port (another if it is taken).")] = 8080,
    desk_port: Annotated[int, typer.Option(help="The desk's port (another if taken).")] = 8090,
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
    from patchwire.server import free_port

    try:
        folder = agent_folder(path) if path is not None else demo_agent_folder()
    except PatchwireError as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(1) from None
    with tempfile.TemporaryDirectory(prefix="patchwire-demo-") as scratch:
        session = Demo(
            folder,
            (data or Path(scratch)).resolve(),
            agent_port=free_port(port),
            desk_port=free_port(desk_port),
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
