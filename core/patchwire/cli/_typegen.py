"""``patchwire typegen [PATH]``: write the agent's typed module for editors and mypy."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

__all__ = ["typegen"]


def typegen(
    path: Annotated[Path, typer.Argument(help="An agent folder or its agent.toml.")] = Path("."),
) -> None:
    """Write patchwire_types.py beside agent.toml: typed plugins and integrations proxies."""
    from patchwire._config import config_path, load_config
    from patchwire._errors import ConfigError
    from patchwire._resolver import resolve
    from patchwire._typegen import GENERATED_MODULE, render_types

    file = config_path(path)
    try:
        agent = resolve(load_config(file))
    except ConfigError as error:
        for problem in error.problems:
            typer.echo(f"{file}: {problem}", err=True)
        raise typer.Exit(1) from None
    target = file.parent / GENERATED_MODULE
    target.write_text(render_types(agent), encoding="utf-8")
    typer.echo(f"wrote {target}")
