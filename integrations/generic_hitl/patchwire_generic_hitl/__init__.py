"""patchwire-generic-hitl: hand conversations to any live-agent service over HTTP.

This release ships the integration's definition so agents can be configured and checked; the
protocol itself is not implemented yet, and the host refuses to run an agent that uses it.
"""

from __future__ import annotations

from patchwire_generic_hitl._definition import (
    GenericHitlConfiguration,
    HitlSession,
    definition,
)

integration = definition

__all__ = ["GenericHitlConfiguration", "HitlSession", "definition", "integration"]
