"""register / unregister against the fake: idempotent, self-repairing, and clean."""

from __future__ import annotations

from pathlib import Path

import pytest

from patchwire.testing.hitl import HitlHarness, start_harness
from patchwire_zendesk import Desk, ZendeskError, desk, provision, unprovision

from .conftest import AGENT_URL, ZendeskHelpdesk
from .fake_zendesk import FakeZendesk


def target(harness: HitlHarness) -> Desk:
    return desk(harness.runtime.context("desk"))


async def test_register_twice_creates_nothing_twice(
    harness: HitlHarness, zendesk: FakeZendesk
) -> None:
    first: list[str] = []
    second: list[str] = []
    made = await provision(target(harness), first.append)
    again = await provision(target(harness), second.append)
    assert made == again
    assert zendesk.created == {"webhook": 1, "trigger": 3}
    [webhook] = zendesk.webhooks.values()
    assert webhook["endpoint"] == f"{AGENT_URL}/webhooks/desk"
    assert webhook["subscriptions"] == ["conditional_ticket_events"]
    assert made["secret"] == zendesk.secrets[webhook["id"]]
    assert sum("created" in line for line in first) == 4
    assert sum("up to date" in line for line in second) == 4
    titles = sorted(t["title"] for t in zendesk.triggers.values())
    assert titles == [
        "patchwire-desk: agent commented",
        "patchwire-desk: assignee changed",
        "patchwire-desk: ticket solved",
    ]
    for trigger in zendesk.triggers.values():
        tag = {"field": "current_tags", "operator": "includes", "value": "patchwire_hitl"}
        assert tag in trigger["conditions"]["all"]
        [action] = trigger["actions"]
        assert action["value"][0] == webhook["id"]
        assert "{{ticket.id}}" in action["value"][1] and "latest_comment" not in action["value"][1]


async def test_register_repairs_what_was_changed_by_hand(
    harness: HitlHarness, zendesk: FakeZendesk
) -> None:
    await provision(target(harness), lambda line: None)
    [webhook] = zendesk.webhooks.values()
    webhook["endpoint"] = "https://old.example.com/webhooks/desk"
    trigger = next(iter(zendesk.triggers.values()))
    trigger["conditions"] = {"all": [], "any": []}
    duplicate = {**trigger, "id": 77}
    zendesk.triggers[77] = duplicate
    lines: list[str] = []
    await provision(target(harness), lines.append)
    assert webhook["endpoint"] == f"{AGENT_URL}/webhooks/desk"
    assert 77 not in zendesk.triggers
    assert any(line.startswith("  updated trigger") for line in lines)
    assert any(line.startswith("  updated webhook") for line in lines)
    assert zendesk.created == {"webhook": 1, "trigger": 3}


async def test_unregister_removes_what_register_made(
    harness: HitlHarness, zendesk: FakeZendesk
) -> None:
    await provision(target(harness), lambda line: None)
    zendesk.triggers[5] = {"id": 5, "title": "someone else's", "actions": []}
    lines: list[str] = []
    await unprovision(target(harness), lines.append)
    assert zendesk.webhooks == {} and list(zendesk.triggers) == [5]
    assert len(lines) == 4
    assert await target(harness).registration() is None
    await unprovision(target(harness), lines.append)  # nothing left: still fine
    assert len(lines) == 4


async def test_register_runs_through_the_integration_hooks(
    harness: HitlHarness, helpdesk: ZendeskHelpdesk, zendesk: FakeZendesk
) -> None:
    assert helpdesk.integration.register_handler is not None
    assert helpdesk.integration.unregister_handler is not None
    await helpdesk.integration.register_handler(harness.runtime.context("desk"))
    assert len(zendesk.triggers) == 3
    await helpdesk.integration.unregister_handler(harness.runtime.context("desk"))
    assert zendesk.triggers == {} and zendesk.webhooks == {}


async def test_register_needs_a_public_url(zendesk: FakeZendesk, tmp_path: Path) -> None:
    helpdesk = ZendeskHelpdesk(zendesk, publicUrl=None)
    harness = await start_harness(helpdesk, tmp_path)
    try:
        with pytest.raises(ZendeskError) as raised:
            await provision(target(harness), lambda line: None)
        assert str(raised.value) == (
            "no public URL for 'desk': set public_url in agent.toml (or serve --public-url, or "
            "this integration's publicUrl) to where Zendesk reaches this agent (the webhook "
            "will point at <public_url>/webhooks/desk)"
        )
        assert zendesk.created == {}
    finally:
        await harness.close()


async def test_register_falls_back_to_the_agents_public_url(
    zendesk: FakeZendesk, tmp_path: Path
) -> None:
    helpdesk = ZendeskHelpdesk(zendesk, publicUrl=None)
    harness = await start_harness(helpdesk, tmp_path, public_url="https://agent.example.com/")
    try:
        await provision(target(harness), lambda line: None)
        [webhook] = zendesk.webhooks.values()
        assert webhook["endpoint"] == "https://agent.example.com/webhooks/desk"
        assert zendesk.created == {"webhook": 1, "trigger": 3}
    finally:
        await harness.close()


async def test_the_integrations_own_public_url_wins(zendesk: FakeZendesk, tmp_path: Path) -> None:
    harness = await start_harness(
        ZendeskHelpdesk(zendesk), tmp_path, public_url="https://elsewhere.example.com"
    )
    try:
        await provision(target(harness), lambda line: None)
        [webhook] = zendesk.webhooks.values()
        assert webhook["endpoint"] == f"{AGENT_URL}/webhooks/desk"
    finally:
        await harness.close()
