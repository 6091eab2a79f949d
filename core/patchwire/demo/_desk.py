"""The reference desk lives in patchwire-generic-hitl; the demo and ``patchwire desk`` use it."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from patchwire._errors import PatchwireError

if TYPE_CHECKING:
    from starlette.applications import Starlette

    from patchwire_generic_hitl.desk import Desk

__all__ = ["desk_app"]


def desk_app(database: Path, agent_webhook_url: str, secret: str | None) -> tuple[Starlette, Desk]:
    """The desk's app and its parts; a clear error when patchwire-generic-hitl is missing."""
    try:
        from patchwire_generic_hitl.desk import Desk, DeskSettings, create_desk_app
    except ImportError as error:
        raise PatchwireError(
            f"the agent desk needs patchwire-generic-hitl ({error}): "
            "pip install patchwire-generic-hitl"
        ) from None
    desk = Desk(DeskSettings(database, agent_webhook_url.rstrip("/"), secret))
    return create_desk_app(desk.settings, desk), desk
