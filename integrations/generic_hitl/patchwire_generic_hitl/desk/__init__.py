"""The reference agent desk: the service side of the generic HITL protocol, with a page for humans.

``patchwire desk`` runs it alone; ``patchwire demo`` runs it beside an example agent.
"""

from __future__ import annotations

from patchwire_generic_hitl.desk._app import Desk, DeskSettings, create_desk_app
from patchwire_generic_hitl.desk._store import DeskConflict, DeskStore

__all__ = ["Desk", "DeskConflict", "DeskSettings", "DeskStore", "create_desk_app"]
