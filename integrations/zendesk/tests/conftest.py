"""Fixtures: the fake Zendesk over real HTTP on loopback, and the conformance kit's driver."""

from __future__ import annotations

import mimetypes
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from patchwire.runtime import Runtime
from patchwire.server import webhook_mounts
from patchwire.testing.hitl import HitlHarness, start_harness
from patchwire.testing.loopback import LoopbackServer
from patchwire_zendesk import desk, integration, provision

from .fake_zendesk import FakeZendesk

AGENT_URL = "http://agent.test"


@pytest.fixture
async def zendesk() -> AsyncIterator[FakeZendesk]:
    fake = FakeZendesk()
    async with LoopbackServer(fake.app()) as server:
        fake.url = server.url
        yield fake
    if fake.sender is not None:
        await fake.sender.aclose()
    assert fake.invalid == [], "requests that break the Zendesk contract"


class ZendeskHelpdesk:
    """A human agent working in the fake Zendesk, for the HITL conformance kit."""

    implementation_key = "hitl<hitlTicket>"

    def __init__(self, fake: FakeZendesk, **configuration: Any) -> None:
        self.integration = integration
        self.fake = fake
        self.configuration: Mapping[str, Any] = {
            "baseUrl": fake.url,
            "clientId": fake.client_id,
            "clientSecret": fake.client_secret,
            "publicUrl": AGENT_URL,
            **configuration,
        }
        self.runtime: Runtime | None = None
        self.alias = ""
        self.progress: list[str] = []
        self._registered = False
        self._replies: dict[str, int] = {}

    def attach(self, runtime: Runtime, alias: str) -> None:
        self.runtime, self.alias = runtime, alias

        app = Starlette(routes=webhook_mounts(runtime))
        self.fake.sender = httpx.AsyncClient(transport=httpx.ASGITransport(app=app))

    async def ready(self) -> None:
        """Run register once (as ``patchwire serve`` would) before the agent side acts."""
        if not self._registered:
            assert self.runtime is not None, "not attached to a running agent"
            await provision(
                desk(self.runtime.context(self.alias, "integration")), self.progress.append
            )
            self._registered = True

    async def settle(self) -> None:
        """Deliver the webhooks Zendesk queued, then let the agent process them."""
        assert self.runtime is not None
        await self.fake.deliver()
        await self.runtime.process_pending()
        await desk(self.runtime.context(self.alias, "integration")).outboxes.drain()
        await self.runtime.process_pending()

    async def opened(self) -> list[str]:
        await self.ready()
        return [str(ticket_id) for ticket_id in self.fake.tickets]

    async def received(self, remote_id: str) -> list[str]:
        return self.fake.received(int(remote_id))

    async def assign(self, remote_id: str, agent_name: str) -> None:
        await self.ready()
        self.fake.assign(int(remote_id), self.fake.agent(agent_name))
        await self.fake.deliver()

    async def reply(
        self,
        remote_id: str,
        type: str,
        payload: Mapping[str, Any],
        *,
        message_id: str,
        agent_name: str = "Alice",
    ) -> None:
        await self.ready()
        if message_id in self._replies:
            # Zendesk delivering the same comment again, as a new invocation.
            self.fake.redeliver(f'"comment_id": "{self._replies[message_id]}"'.encode())
            await self.fake.deliver()
            return
        text = str(payload.get("text") or payload.get("markdown") or "")
        url = next((str(v) for k, v in payload.items() if k.endswith("Url")), None)
        attachments = (
            [(url.rsplit("/", 1)[-1], mimetypes.guess_type(url)[0] or "application/pdf")]
            if url
            else None
        )
        self._replies[message_id] = self.fake.agent_comment(
            int(remote_id), self.fake.agent(agent_name), text, attachments=attachments
        )
        for response in await self.fake.deliver():
            assert response.is_success, (response.status_code, response.text)

    async def close(self, remote_id: str) -> None:
        await self.ready()
        self.fake.solve(int(remote_id), self.fake.agent("Alice"))
        await self.fake.deliver()

    def go_down(self) -> None:
        self.fake.down = True

    def come_back(self) -> None:
        self.fake.down = False


@pytest.fixture
def helpdesk(zendesk: FakeZendesk) -> ZendeskHelpdesk:
    return ZendeskHelpdesk(zendesk)


@pytest.fixture
async def harness(helpdesk: ZendeskHelpdesk, tmp_path: Path) -> AsyncIterator[HitlHarness]:
    """An agent handing off to the fake Zendesk; sessions end at once without an assignee."""
    started = await start_harness(helpdesk, tmp_path, agentAssignedTimeoutSeconds=0)
    yield started
    await started.runtime.stop()
    await started.runtime.store.close()
