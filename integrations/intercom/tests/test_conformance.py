"""intercom passes the HITL conformance kit against the fake Intercom, over real HTTP."""

from __future__ import annotations

from patchwire.testing.hitl import HitlConformance


class TestIntercom(HitlConformance):
    pass
