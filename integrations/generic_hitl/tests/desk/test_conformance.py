"""generic-hitl passes the HITL conformance kit against the reference desk, over real HTTP."""

from __future__ import annotations

from patchwire.testing.hitl import HitlConformance


class TestGenericHitlWithTheDesk(HitlConformance):
    pass
