"""patchwire-hitl: human in the loop for patchwire agents.

This release ships the plugin's definition (configuration, actions, requirement on the ``hitl``
interface) so agents can be configured and checked; the handoff behaviour itself is not
implemented yet, and the host refuses to run an agent that uses it.
"""

from __future__ import annotations

from patchwire_hitl._config import NULL, HitlConfiguration, HitlConfigurationOverrides
from patchwire_hitl._definition import (
    StartHitlInput,
    StartHitlOutput,
    StopHitlInput,
    StopHitlOutput,
    definition,
)

plugin = definition

__all__ = [
    "NULL",
    "HitlConfiguration",
    "HitlConfigurationOverrides",
    "StartHitlInput",
    "StartHitlOutput",
    "StopHitlInput",
    "StopHitlOutput",
    "definition",
    "plugin",
]
