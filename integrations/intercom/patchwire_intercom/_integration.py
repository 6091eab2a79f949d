"""The ``Integration`` object the entry point exposes, with every handler recorded on it."""

from __future__ import annotations

from patchwire import Integration
from patchwire_intercom._actions import create_user, start_hitl, stop_hitl
from patchwire_intercom._channel import send
from patchwire_intercom._definition import definition
from patchwire_intercom._setup import register, verify_online
from patchwire_intercom._webhook import routes

__all__ = ["integration"]

integration = Integration(definition)
integration.action("create_user")(create_user)
integration.action("start_hitl")(start_hitl)
integration.action("stop_hitl")(stop_hitl)
integration.sender("hitl")(send)
integration.routes(routes)
integration.on_register(register)
integration.on_check(verify_online)
