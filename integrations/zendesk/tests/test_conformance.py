"""The Zendesk integration passes the HITL conformance kit against the fake, over real HTTP."""

from __future__ import annotations

from patchwire.testing.hitl import HitlConformance


class TestZendesk(HitlConformance):
    pass
