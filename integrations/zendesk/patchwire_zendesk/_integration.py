"""The integration object the entry point exposes, with every handler recorded on it."""

from __future__ import annotations

from patchwire import Integration
from patchwire_zendesk._actions import create_user, start_hitl, stop_hitl
from patchwire_zendesk._channel import send
from patchwire_zendesk._definition import definition
from patchwire_zendesk._online import check_online
from patchwire_zendesk._provisioning import register, unregister
from patchwire_zendesk._webhook import routes

__all__ = ["integration"]

integration = Integration(definition)
integration.action("create_user")(create_user)
integration.action("start_hitl")(start_hitl)
integration.action("stop_hitl")(stop_hitl)
integration.sender("hitl")(send)
integration.routes(routes)
integration.on_register(register)
integration.on_unregister(unregister)
integration.on_check(check_online)
