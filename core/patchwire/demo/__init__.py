"""The whole handoff on one machine: an example agent and the reference agent desk."""

from patchwire.demo._desk import add_desk_agent, desk_app
from patchwire.demo._run import DEMO_AGENT, DEMO_DESK_AGENT, Demo, demo_agent_folder

__all__ = [
    "DEMO_AGENT",
    "DEMO_DESK_AGENT",
    "Demo",
    "add_desk_agent",
    "demo_agent_folder",
    "desk_app",
]
