"""Setting up: what ``patchwire serve`` prints, and the online check of token and bot admin."""

from __future__ import annotations

import httpx
import pytest

from patchwire.testing.hitl import HitlHarness
from patchwire_intercom import TOPICS, IntercomError, setup_instructions, verify_online

from .fake_intercom import CLIENT_SECRET, TOKEN, FakeIntercom


def config(intercom: FakeIntercom, **changes: str) -> dict[str, str]:
    return {
        "accessToken": TOKEN,
        "clientSecret": CLIENT_SECRET,
        "baseUrl": intercom.url,
        **changes,
    }


async def test_a_good_token_and_admin_have_no_problems(intercom: FakeIntercom) -> None:
    assert await verify_online(config(intercom)) == []
    assert await verify_online(config(intercom, botAdminId=intercom.bot)) == []


async def test_a_bad_token_names_the_credential(intercom: FakeIntercom) -> None:
    problems = await verify_online(config(intercom, accessToken="nope"), label="support")
    assert problems == [
        "Intercom refused the access token (accessToken of integration 'support'): "
        "Access Token Invalid"
    ]


async def test_an_unknown_bot_admin_is_named(intercom: FakeIntercom) -> None:
    [problem] = await verify_online(config(intercom, botAdminId="424242"))
    assert problem.startswith("botAdminId '424242' cannot be used: ")
    assert "Admin not found" in problem


async def test_the_wrong_region_is_named(intercom: FakeIntercom) -> None:
    settings = {"accessToken": TOKEN, "clientSecret": CLIENT_SECRET, "region": "eu"}
    transport = httpx.ASGITransport(app=intercom.app())
    problems = await verify_online(settings, transport=transport)
    assert problems == ["region is 'eu' but the workspace is hosted in 'us': set region = 'us'"]


async def test_a_bad_configuration_is_a_problem_not_an_exception() -> None:
    [problem] = await verify_online({"accessToken": TOKEN})
    assert problem.startswith("configuration: ") and "clientSecret" in problem


async def test_an_unreachable_workspace_is_a_problem(intercom: FakeIntercom) -> None:
    intercom.down = True
    [problem] = await verify_online(config(intercom))
    assert problem.startswith(f"cannot use Intercom at {intercom.url}: ")


async def test_registering_prints_the_webhook_path_and_the_exact_topics(
    harness: HitlHarness, capsys: pytest.CaptureFixture[str]
) -> None:
    [(alias, register)] = harness.runtime.registrations()
    await register(harness.runtime.context(alias))
    printed = capsys.readouterr().out
    assert printed.strip() == setup_instructions("desk")
    assert "/webhooks/desk" in printed
    listed = [line.strip() for line in printed.splitlines() if line.startswith("       ")]
    assert listed == list(TOPICS)


def test_the_instructions_name_the_webhook_url_when_the_public_url_is_known() -> None:
    known = setup_instructions("desk", "https://bot.example.com/webhooks/desk")
    assert "    endpoint URL: https://bot.example.com/webhooks/desk\n" in known
    assert "public HTTPS address" not in known
    assert "set public_url in agent.toml" in setup_instructions("desk")


async def test_registering_fails_fast_on_a_refused_token(
    harness: HitlHarness, intercom: FakeIntercom, capsys: pytest.CaptureFixture[str]
) -> None:
    [(alias, register)] = harness.runtime.registrations()
    intercom.failures = [(401, {})]
    with pytest.raises(IntercomError, match="accessToken of integration 'desk'"):
        await register(harness.runtime.context(alias))
