"""Credentials (OAuth default, API token legacy) and how Zendesk's refusals surface."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from patchwire.testing.hitl import HitlHarness, start_harness
from patchwire_zendesk import (
    ClientCredentials,
    CredentialsError,
    ZendeskConfiguration,
    ZendeskError,
    desk,
    integration,
)

from .conftest import ZendeskHelpdesk
from .fake_zendesk import FakeZendesk
from .helpers import open_ticket


async def started(
    zendesk: FakeZendesk, tmp_path: Path, **configuration: Any
) -> tuple[HitlHarness, ZendeskHelpdesk]:
    helpdesk = ZendeskHelpdesk(zendesk, **configuration)
    harness = await start_harness(helpdesk, tmp_path, agentAssignedTimeoutSeconds=0)
    return harness, helpdesk


@pytest.fixture
async def running(
    zendesk: FakeZendesk, tmp_path: Path
) -> AsyncIterator[tuple[HitlHarness, ZendeskHelpdesk]]:
    harness, helpdesk = await started(zendesk, tmp_path)
    yield harness, helpdesk
    await harness.runtime.stop()
    await harness.runtime.store.close()


async def test_token_expiry_mid_session_is_transparent(
    running: tuple[HitlHarness, ZendeskHelpdesk], zendesk: FakeZendesk
) -> None:
    harness, helpdesk = running
    zendesk.token_lifetime = 1
    ticket_id = await open_ticket(harness, helpdesk)
    await asyncio.sleep(1.1)  # the token has expired
    await harness.say("after expiry")
    zendesk.revoke_tokens()  # and now one revoked before its time
    await harness.say("after revocation")
    bodies = [c["body"] for c in zendesk.comments[ticket_id]]
    assert bodies[-2:] == ["after expiry", "after revocation"]
    assert zendesk.grants[0] == "client_credentials"
    assert "refresh_token" in zendesk.grants[1:]
    credentials = desk(harness.runtime.context("desk")).client.credentials
    assert isinstance(credentials, ClientCredentials) and credentials.fetched >= 3


async def test_the_legacy_api_token_works(zendesk: FakeZendesk, tmp_path: Path) -> None:
    harness, helpdesk = await started(
        zendesk,
        tmp_path,
        clientId=None,
        clientSecret=None,
        email="bot@example.com",
        apiToken="api-token-for-tests",
    )
    try:
        ticket_id = await open_ticket(harness, helpdesk)
        await harness.say("over basic auth")
        assert zendesk.comments[ticket_id][-1]["body"] == "over basic auth"
        assert zendesk.grants == []
    finally:
        await harness.runtime.stop()
        await harness.runtime.store.close()


@pytest.mark.parametrize(
    ("configuration", "message"),
    [
        (
            {"clientSecret": "wrong"},
            r"refused the OAuth client 'patchwire-test'.*check clientId and clientSecret",
        ),
        (
            {
                "clientId": None,
                "clientSecret": None,
                "email": "bot@example.com",
                "apiToken": "revoked",
            },
            r"refused email 'bot@example.com' with its API token.*being retired",
        ),
    ],
)
async def test_a_wrong_credential_is_named(
    zendesk: FakeZendesk, tmp_path: Path, configuration: dict[str, Any], message: str
) -> None:
    harness, _ = await started(zendesk, tmp_path, **configuration)
    try:
        with pytest.raises(CredentialsError, match=message):
            await harness.runtime.integrations.desk.actions.create_user(name="Sam")
        await harness.say("/starthitl")
        assert (await harness.user_sees())[-1] == (
            "Sorry, I could not connect you with a human agent. Please try again later."
        )
    finally:
        await harness.runtime.stop()
        await harness.runtime.store.close()


async def test_a_forbidden_call_names_the_client_and_its_scope(
    running: tuple[HitlHarness, ZendeskHelpdesk], zendesk: FakeZendesk
) -> None:
    harness, _ = running
    await harness.runtime.integrations.desk.actions.create_user(name="Ann")  # a token first
    zendesk.failures.append((403, {}))
    with pytest.raises(CredentialsError, match=r"OAuth client 'patchwire-test' may not POST"):
        await harness.runtime.integrations.desk.actions.create_user(name="Sam")


async def test_5xx_and_429_are_retried_honouring_retry_after(
    running: tuple[HitlHarness, ZendeskHelpdesk], zendesk: FakeZendesk
) -> None:
    harness, _ = running
    zendesk.failures += [(503, {}), (429, {"Retry-After": "1"})]
    began = time.monotonic()
    created = await harness.runtime.integrations.desk.actions.create_user(name="Sam")
    assert created.model_dump()["user_id"]
    assert time.monotonic() - began >= 1.0
    assert zendesk.failures == []


async def test_a_zendesk_that_stays_down_fails_with_a_clear_error(
    running: tuple[HitlHarness, ZendeskHelpdesk], zendesk: FakeZendesk
) -> None:
    harness, _ = running
    zendesk.down = True
    with pytest.raises(ZendeskError, match=r"kept failing after 4 attempts \(answered 503\)"):
        await harness.runtime.integrations.desk.actions.create_user(name="Sam")


async def test_the_online_check_signs_in_and_wants_an_admin(zendesk: FakeZendesk) -> None:
    def configuration(secret: str) -> ZendeskConfiguration:
        return ZendeskConfiguration(
            base_url=zendesk.url, client_id=zendesk.client_id, client_secret=secret
        )

    assert integration.online_check is not None
    assert await integration.online_check(configuration(zendesk.client_secret)) == []
    [wrong] = await integration.online_check(configuration("not-the-secret"))
    assert "refused the OAuth client 'patchwire-test'" in wrong
    assert "check clientId and clientSecret" in wrong
    zendesk.users[1]["role"] = "agent"
    [not_admin] = await integration.online_check(configuration(zendesk.client_secret))
    assert "role 'agent'" in not_admin and "needs an admin" in not_admin
