"""The reference desk lives in patchwire-generic-hitl; the demo and ``patchwire desk`` use it."""

from __future__ import annotations

from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING

from patchwire._errors import PatchwireError

if TYPE_CHECKING:
    from starlette.applications import Starlette

    from patchwire_generic_hitl.desk import Desk

__all__ = ["add_desk_agent", "desk_app"]


def _desk_package() -> ModuleType:
    """``patchwire_generic_hitl.desk``, or a clear error when the distribution is missing."""
    try:
        import patchwire_generic_hitl.desk as package
    except ImportError as error:
        raise PatchwireError(
            f"the agent desk needs patchwire-generic-hitl ({error}): "
            "pip install patchwire-generic-hitl"
        ) from None
    return package


def desk_app(
    database: Path | str, agent_webhook_url: str, secret: str | None
) -> tuple[Starlette, Desk]:
    """The desk's app and its parts."""
    package = _desk_package()
    desk = package.Desk(package.DeskSettings(database, agent_webhook_url.rstrip("/"), secret))
    return package.create_desk_app(desk.settings, desk), desk


async def add_desk_agent(
    database: Path | str, name: str, password: str, *, admin: bool, replace: bool
) -> None:
    """Make (or with ``replace``, reset) an agent account; a :class:`PatchwireError` if not."""
    package = _desk_package()
    try:
        await package.add_agent(database, name, password, admin=admin, replace=replace)
    except package.AgentExists as error:
        raise PatchwireError(f"{error}: pass --replace to set a new password") from None
    except package.AccountError as error:
        raise PatchwireError(str(error)) from None
