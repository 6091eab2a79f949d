"""``patchwire desk``: the reference agent desk of the generic HITL protocol, on its own.

``patchwire desk [options]`` runs it; ``patchwire desk add-agent NAME`` makes the accounts
agents log in with.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

__all__ = ["desk"]

SECRET_ENV = "HITL_SIGNING_SECRET"
DEFAULT_DATABASE = Path(".patchwire/desk.db")

DatabaseOption = Annotated[
    str,
    typer.Option(help="The desk's SQLite file, or a sqlite:/// or postgresql:// URL."),
]

desk = typer.Typer(
    help="The agent desk: humans answer handed-off conversations in a web page.",
    invoke_without_command=True,
    no_args_is_help=False,
)


@desk.callback()
def run(
    context: typer.Context,
    agent_url: Annotated[
        str, typer.Option(help="The agent's generic-hitl webhook URL (/webhooks/<alias>).")
    ] = "http://127.0.0.1:8080/webhooks/hitl",
    secret: Annotated[
        str | None,
        typer.Option(
            envvar=SECRET_ENV,
            help=f"Signing secret shared with the agent's signingSecret (or ${SECRET_ENV}).",
        ),
    ] = None,
    unsigned: Annotated[
        bool, typer.Option(help="Accept and send unsigned calls (the agent's allowUnsigned).")
    ] = False,
    database: DatabaseOption = str(DEFAULT_DATABASE),
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8090,
) -> None:
    """Run the agent desk (agents log in with accounts made by `patchwire desk add-agent`)."""
    if context.invoked_subcommand is not None:
        return
    import uvicorn

    from patchwire import PatchwireError
    from patchwire.demo import desk_app

    if not secret and not unsigned:
        typer.echo(
            f"error: give --secret (or ${SECRET_ENV}), the agent's signingSecret; "
            "or --unsigned when the agent sets allowUnsigned = true",
            err=True,
        )
        raise typer.Exit(2)
    try:
        app, _ = desk_app(database, agent_url, None if unsigned else secret)
    except PatchwireError as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(1) from None
    typer.echo(f"desk: http://{host}:{port}/  (calls the agent at {agent_url})")
    uvicorn.run(app, host=host, port=port, timeout_graceful_shutdown=2, log_level="warning")


@desk.command("add-agent")
def add_agent(
    name: Annotated[str, typer.Argument(help="The agent's name: what they log in with.")],
    admin: Annotated[
        bool, typer.Option(help="May reply to and close any conversation, claimed or not.")
    ] = False,
    replace: Annotated[
        bool, typer.Option(help="Set a new password (and role) for an existing agent.")
    ] = False,
    password_stdin: Annotated[
        bool, typer.Option(help="Read the password from the first line of standard input.")
    ] = False,
    database: DatabaseOption = str(DEFAULT_DATABASE),
) -> None:
    """Make an agent account; asks for the password twice unless --password-stdin."""
    import asyncio

    from patchwire import PatchwireError
    from patchwire.demo import add_desk_agent

    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    try:
        asyncio.run(add_desk_agent(database, name, password, admin=admin, replace=replace))
    except PatchwireError as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(1) from None
    role = "admin" if admin else "agent"
    typer.echo(f"{'updated' if replace else 'added'} {role} {name.strip()!r} in {database}")
