"""The conformance kit, proven on two in-memory helpdesks with different entity names."""

from __future__ import annotations

import pytest

from patchwire.testing.hitl import HitlConformance
from patchwire.testing.memory import MemoryHelpdesk


@pytest.fixture(params=["hitlSession", "hitlTicket"])
def helpdesk(request: pytest.FixtureRequest) -> MemoryHelpdesk:
    return MemoryHelpdesk(f"memory-{request.param.lower()}", request.param)


class TestMemoryHelpdesks(HitlConformance):
    pass
