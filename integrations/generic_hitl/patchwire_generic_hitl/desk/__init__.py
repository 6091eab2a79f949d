"""The reference agent desk: the service side of the generic HITL protocol, with a page for humans.

``patchwire desk`` runs it alone; ``patchwire demo`` runs it beside an example agent;
``patchwire desk add-agent NAME`` makes the accounts agents log in with.
"""

from __future__ import annotations

from patchwire_generic_hitl.desk._accounts import (
    MIN_PASSWORD_LENGTH,
    AccountError,
    Accounts,
    Agent,
    AgentExists,
    Login,
)
from patchwire_generic_hitl.desk._app import Desk, DeskSettings, create_desk_app
from patchwire_generic_hitl.desk._memory import Memory
from patchwire_generic_hitl.desk._store import DeskConflict, DeskForbidden, DeskStore, add_agent

__all__ = [
    "MIN_PASSWORD_LENGTH",
    "AccountError",
    "Accounts",
    "Agent",
    "AgentExists",
    "Desk",
    "DeskConflict",
    "DeskForbidden",
    "DeskSettings",
    "DeskStore",
    "Login",
    "Memory",
    "add_agent",
    "create_desk_app",
]
