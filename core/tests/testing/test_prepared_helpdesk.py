"""A driver's async ``prepare`` and ``teardown``: awaited around the test, with the agent up."""

from __future__ import annotations

from pathlib import Path

import pytest

from patchwire.testing.hitl import PreparedHelpdesk, start_harness
from patchwire.testing.memory import MemoryHelpdesk


class Kept:
    """What a driver keeps on the alias (``ctx.local``): closed when the agent stops."""

    def __init__(self, ctx: object) -> None:
        self.closed = False

    def close(self) -> None:
        self.closed = True


class PreparingHelpdesk(MemoryHelpdesk):
    """The in-memory helpdesk, recording what the harness asked of it and when."""

    def __init__(self, *, fail: bool = False) -> None:
        super().__init__()
        self.fail = fail
        self.calls: list[str] = []

    async def prepare(self) -> None:
        # The agent runs already: the alias's context reaches the store.
        await self.ctx.set_state("agent", "", "prepared", {"yes": True})
        self.kept = self.ctx.local(Kept)
        self.calls.append("prepare")
        if self.fail:
            raise RuntimeError("the fake service did not start")

    async def teardown(self) -> None:
        # The agent still runs: what prepare made can be read (and cleaned up) here.
        prepared = await self.ctx.get_state("agent", "", "prepared")
        self.calls.append(f"teardown {prepared} closed={self.kept.closed}")


async def test_prepare_runs_before_the_test_and_teardown_at_close(tmp_path: Path) -> None:
    helpdesk = PreparingHelpdesk()
    assert isinstance(helpdesk, PreparedHelpdesk)
    harness = await start_harness(helpdesk, tmp_path)
    assert helpdesk.calls == ["prepare"]
    await harness.say("/starthitl")
    assert len(await helpdesk.opened()) == 1
    await harness.close()
    assert helpdesk.calls == ["prepare", "teardown {'yes': True} closed=False"]
    assert helpdesk.kept.closed


async def test_a_failing_prepare_stops_the_agent_and_is_raised(tmp_path: Path) -> None:
    helpdesk = PreparingHelpdesk(fail=True)
    with pytest.raises(RuntimeError, match="the fake service did not start"):
        await start_harness(helpdesk, tmp_path)
    assert helpdesk.calls == ["prepare"]
    assert helpdesk.kept.closed  # the agent was stopped


def test_a_plain_driver_is_not_prepared() -> None:
    assert not isinstance(MemoryHelpdesk(), PreparedHelpdesk)
