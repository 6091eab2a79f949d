"""generic-hitl passes the HITL conformance kit against the fake service, over real HTTP."""

from __future__ import annotations

from patchwire.testing.hitl import HitlConformance


class TestGenericHitl(HitlConformance):
    pass
