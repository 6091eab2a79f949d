"""The server: one Starlette app per agent, served by uvicorn."""

from patchwire.server._agent import (
    DATABASE_ENV,
    PUBLIC_URL_ENV,
    LoadedAgent,
    database_url_for,
    open_agent,
)
from patchwire.server._app import AGENT_ENV, create_app, create_app_from_env
from patchwire.server._limits import BodyLimit
from patchwire.server._mounts import AliasMount, integration_mount, webhook_mounts
from patchwire.server._pages import html_page
from patchwire.server._ports import free_port
from patchwire.server._serving import SHUTDOWN_HOOK, Server, run_server

__all__ = [
    "AGENT_ENV",
    "DATABASE_ENV",
    "PUBLIC_URL_ENV",
    "SHUTDOWN_HOOK",
    "AliasMount",
    "BodyLimit",
    "LoadedAgent",
    "Server",
    "create_app",
    "create_app_from_env",
    "database_url_for",
    "free_port",
    "html_page",
    "integration_mount",
    "open_agent",
    "run_server",
    "webhook_mounts",
]
