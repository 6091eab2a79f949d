"""``patchwire init DIR``: a new agent folder that runs as it is."""

from __future__ import annotations

import shlex
import shutil
import sys
from pathlib import Path
from typing import Annotated

import typer

__all__ = ["init"]

AGENT_TOML = """\
# Your agent. `patchwire check` validates this file; `patchwire dev` runs the agent.
name = "{name}"

[integrations]
chat = "chat@latest"        # the Chat API: any @botpress/chat client can talk to the agent
webchat = "webchat@latest"  # a web page at /webchat

# To hand conversations to human agents, install patchwire-hitl and a helpdesk
# integration, then add for example:
# [integrations.hitl]
# version = "generic-hitl@latest"
# config = {{ endpointBaseUrl = "http://127.0.0.1:8090", signingSecret = "${{DESK_SECRET}}" }}
# [plugins.hitl]
# version = "hitl@latest"
# dependencies.hitl = {{ integrationAlias = "hitl" }}
"""

AGENT_PY = '''\
"""The agent's code: patchwire imports this module and runs its Conversation handlers."""

from patchwire import Conversation, MessageContext


async def handler(ctx: MessageContext) -> None:
    await ctx.execute(instructions="You are a helpful assistant.")


conversation = Conversation(channel=["chat.channel", "webchat.channel"], handler=handler)
'''


def init(
    directory: Annotated[Path, typer.Argument(help="The folder to create.")],
    name: Annotated[str | None, typer.Option(help="Agent name (default: the folder's).")] = None,
) -> None:
    """Create an agent folder with agent.toml and agent.py."""
    agent_name = name or directory.resolve().name.lower().replace(" ", "-").replace("_", "-")
    if (directory / "agent.toml").exists():
        typer.echo(f"error: {directory / 'agent.toml'} exists already; nothing written", err=True)
        raise typer.Exit(2)
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "agent.toml").write_text(AGENT_TOML.format(name=agent_name), encoding="utf-8")
    (directory / "agent.py").write_text(AGENT_PY, encoding="utf-8")
    (directory / ".gitignore").write_text(".patchwire/\n", encoding="utf-8")
    typer.echo(f"created {directory}/agent.toml and agent.py; run: {_program()} dev {directory}")


def _program() -> str:
    """The patchwire command as the user can type it next: bare only when PATH finds this one.

    After ``make demo`` the command is ``.venv/bin/patchwire``, which is not on PATH.
    """
    invoked = Path(sys.argv[0])
    if invoked.name == "__main__.py":
        return f"{shlex.quote(sys.executable)} -m patchwire.cli"
    on_path = shutil.which("patchwire")
    if invoked.name != "patchwire" or (on_path and Path(on_path).resolve() == invoked.resolve()):
        return "patchwire"
    return shlex.quote(sys.argv[0])
