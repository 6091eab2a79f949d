"""``patchwire demo``: an example agent and the agent desk, wired together, on this machine."""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import signal
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import uvicorn

import patchwire
from patchwire._config import PackageRef, load_config
from patchwire._errors import PatchwireError
from patchwire.demo._desk import add_desk_agent, desk_app
from patchwire.server import Server, create_app

__all__ = ["DEMO_AGENT", "DEMO_DESK_AGENT", "Demo", "demo_agent_folder"]

DEMO_AGENT = "support-agent"
DEMO_DESK_AGENT = "demo"
"""The desk account the demo makes (its password is new on every run)."""
ENDPOINT_ENV = "HITL_ENDPOINT_BASE_URL"
SECRET_ENV = "HITL_SIGNING_SECRET"


def demo_agent_folder() -> Path:
    """The example agent: packaged beside patchwire in a wheel, in ``examples/`` in a checkout."""
    package = Path(patchwire.__file__).parent
    for candidate in (package / "_demo_agent", package.parents[1] / "examples" / DEMO_AGENT):
        if (candidate / "agent.toml").is_file():
            return candidate
    raise PatchwireError(
        f"the demo agent is missing from this installation (looked in {package / '_demo_agent'})"
    )


class _Server(Server):
    """A server that leaves signals to :meth:`Demo.serve`, which stops both."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def _generic_hitl_alias(folder: Path) -> str:
    for alias, entry in load_config(folder).integrations.items():
        if PackageRef.parse(entry.version).name == "generic-hitl":
            return alias
    raise PatchwireError(
        f"{folder / 'agent.toml'} binds no generic-hitl integration: the demo's desk speaks "
        "the generic HITL protocol"
    )


@dataclass
class Demo:
    """The agent and the desk, with the URLs a person opens."""

    folder: Path
    data: Path
    host: str = "127.0.0.1"
    agent_port: int = 8080
    desk_port: int = 8090
    secret: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    desk_password: str = field(default_factory=lambda: secrets.token_urlsafe(12))

    @property
    def agent_url(self) -> str:
        return f"http://{self.host}:{self.agent_port}"

    @property
    def desk_url(self) -> str:
        return f"http://{self.host}:{self.desk_port}"

    def configure(self) -> None:
        """Point the agent's generic-hitl at the desk through the variables agent.toml reads."""
        os.environ[ENDPOINT_ENV] = self.desk_url
        os.environ[SECRET_ENV] = self.secret

    async def serve(self, ready: Callable[[], None] = lambda: None) -> None:
        """Run both until SIGINT or SIGTERM; then stop both, closing the desk's live streams."""
        self.configure()
        alias = _generic_hitl_alias(self.folder)
        agent = create_app(self.folder, database_url=f"sqlite:///{self.data / 'agent.db'}")
        desk_database = self.data / "desk.db"
        await add_desk_agent(
            desk_database, DEMO_DESK_AGENT, self.desk_password, admin=True, replace=True
        )
        desk, parts = desk_app(desk_database, f"{self.agent_url}/webhooks/{alias}", self.secret)
        servers = [
            _Server(
                uvicorn.Config(
                    app, host=self.host, port=port, log_level="warning", timeout_graceful_shutdown=2
                )
            )
            for app, port in ((agent, self.agent_port), (desk, self.desk_port))
        ]

        def stop() -> None:
            parts.updates.close()
            for server in servers:
                server.should_exit = True

        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop)
        try:
            tasks = [asyncio.create_task(server.serve()) for server in servers]
            while not all(server.started for server in servers):
                if any(task.done() for task in tasks):
                    stop()
                    break
                await asyncio.sleep(0.05)
            else:
                ready()
            await asyncio.gather(*tasks)
            for server, port in zip(servers, (self.agent_port, self.desk_port), strict=True):
                if not server.started:
                    raise PatchwireError(f"could not listen on {self.host}:{port} (see above)")
        finally:
            for signum in (signal.SIGINT, signal.SIGTERM):
                loop.remove_signal_handler(signum)
