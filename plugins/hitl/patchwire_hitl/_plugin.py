"""The plugin object: definition, actions and hooks."""

from __future__ import annotations

from patchwire import Context, Plugin
from patchwire_hitl._config import HitlConfiguration
from patchwire_hitl._definition import StopHitlInput, StopHitlOutput, definition
from patchwire_hitl._ending import stop_action
from patchwire_hitl._metrics import metrics
from patchwire_hitl._queries import get_session, list_sessions
from patchwire_hitl._relay import before_incoming_event, before_incoming_message
from patchwire_hitl._sessions import Sessions
from patchwire_hitl._start import start_hitl
from patchwire_hitl._undelivered import after_outgoing_message

__all__ = ["plugin"]

plugin = Plugin(definition)
plugin.action("start_hitl")(start_hitl)
plugin.action("get_session")(get_session)
plugin.action("list_sessions")(list_sessions)
plugin.hook(before_incoming_message)
plugin.hook(before_incoming_event)
plugin.hook(after_outgoing_message)
plugin.metrics(metrics)


@plugin.action("stop_hitl")
async def stop_hitl(ctx: Context[HitlConfiguration], data: StopHitlInput) -> StopHitlOutput:
    return await stop_action(Sessions(ctx), data)
