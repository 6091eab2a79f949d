"""``patchwire new integration|plugin NAME``: a package folder that installs and tests as it is."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

__all__ = ["new_app"]

new_app = typer.Typer(
    help="Create a new integration or plugin package (see docs/authoring.md).",
    no_args_is_help=True,
)

_DIR = typer.Option(help="The folder to create patchwire-NAME/ in (default: here).")


def _report(written: list[Path], root: Path) -> None:
    typer.echo(f"created {root} ({len(written)} files); next:")
    typer.echo(f"  pip install -e '{root}[test]' && pytest {root}")


@new_app.command("integration")
def new_integration(
    name: Annotated[str, typer.Argument(help="The integration's name, e.g. acmedesk.")],
    implements: Annotated[
        str, typer.Option("--implements", help="The installed interface it implements, e.g. hitl.")
    ],
    directory: Annotated[Path, typer.Option("--dir", help=_DIR.help)] = Path("."),
) -> None:
    """An integration implementing an installed interface: a stub for each of its pieces."""
    from patchwire import InterfaceDefinition, installed
    from patchwire.scaffold import ScaffoldError, render_integration

    catalog = installed()
    if implements not in catalog.names("interface"):
        known = ", ".join(catalog.names("interface")) or "none"
        _fail(f"no installed interface is named {implements!r} (installed: {known})")
    interface = catalog.load("interface", implements)
    assert isinstance(interface, InterfaceDefinition)
    try:
        written = render_integration(name, interface, directory)
    except ScaffoldError as error:
        _fail(str(error))
    _report(written, directory / f"patchwire-{name}")


@new_app.command("plugin")
def new_plugin(
    name: Annotated[str, typer.Argument(help="The plugin's name, e.g. greeter.")],
    directory: Annotated[Path, typer.Option("--dir", help=_DIR.help)] = Path("."),
) -> None:
    """A plugin with an action, a hook and tests that pass."""
    from patchwire.scaffold import ScaffoldError, render_plugin

    try:
        written = render_plugin(name, directory)
    except ScaffoldError as error:
        _fail(str(error))
    _report(written, directory / f"patchwire-{name}")


def _fail(message: str) -> None:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(2)
