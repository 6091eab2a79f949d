"""``patchwire desk``: the reference agent desk of the generic HITL protocol, on its own."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

__all__ = ["desk"]

SECRET_ENV = "HITL_SIGNING_SECRET"


def desk(
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
    database: Annotated[Path, typer.Option(help="The desk's SQLite file.")] = Path(
        ".patchwire/desk.db"
    ),
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8090,
) -> None:
    """Run the agent desk: humans answer handed-off conversations in a web page."""
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
