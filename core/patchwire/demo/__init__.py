"""The whole handoff on one machine: an example agent and the reference agent desk."""

from patchwire.demo._desk import desk_app
from patchwire.demo._run import DEMO_AGENT, Demo, demo_agent_folder

__all__ = ["DEMO_AGENT", "Demo", "demo_agent_folder", "desk_app"]
