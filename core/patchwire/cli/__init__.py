"""The ``patchwire`` command line: one module per command, registered on ``app`` here.

Command modules import heavy parts of patchwire inside their functions, so ``patchwire --help``
and a failing ``patchwire check`` stay fast.
"""

from __future__ import annotations

import typer

from patchwire.cli._check import check
from patchwire.cli._demo import demo
from patchwire.cli._desk import desk
from patchwire.cli._init import init
from patchwire.cli._jobs import jobs_app
from patchwire.cli._list import list_packages
from patchwire.cli._new import new_app
from patchwire.cli._serve import dev, serve
from patchwire.cli._typegen import typegen

__all__ = ["app", "main"]

app = typer.Typer(
    name="patchwire",
    help="Build conversational agents from pip-installable integrations and plugins.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

app.command("check")(check)
app.command("list")(list_packages)
app.command("init")(init)
app.command("dev")(dev)
app.command("serve")(serve)
app.command("typegen")(typegen)
app.command("demo")(demo)
app.add_typer(desk, name="desk")
app.add_typer(jobs_app, name="jobs")
app.add_typer(new_app, name="new")


def main() -> None:
    """Entry point of the ``patchwire`` script."""
    app()
