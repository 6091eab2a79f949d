"""Fixtures: the fake Intercom on loopback, and the conformance kit's driver for it.

``IntercomHelpdesk`` plays the human agent in the inbox: it acts on the fake workspace, then
delivers every notification the workspace queued to the running agent, as Intercom would.
"""

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
from patchwire_intercom import TOPICS, integration

from .fake_intercom import CLIENT_SECRET, TOKEN, Delivery, FakeIntercom, serve


class IntercomHelpdesk:
    """The conformance kit's driver: a teammate working in the fake Intercom inbox."""

    implementation_key = "hitl<hitlConversation>"

    def __init__(self, fake: FakeIntercom, **configuration: Any) -> None:
        self.integration = integration
        self.fake = fake
        self.configuration: Mapping[str, Any] = {
            "accessToken": TOKEN,
            "clientSecret": CLIENT_SECRET,
            "baseUrl": fake.url,
            **configuration,
        }
        self.webhooks: httpx.AsyncClient | None = None
        self.path = ""
        self.delivered: list[tuple[Delivery, httpx.Response]] = []
        self.by_message_id: dict[str, list[Delivery]] = {}

    def attach(self, runtime: Runtime, alias: str) -> None:
        app = Starlette(routes=webhook_mounts(runtime))
        self.path = f"/webhooks/{alias}"
        self.webhooks = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://agent"
        )

    async def post(self, raw: bytes, headers: Mapping[str, str]) -> httpx.Response:
        assert self.webhooks is not None, "not attached to a running agent"
        return await self.webhooks.post(self.path, content=raw, headers=dict(headers))

    async def deliver(self) -> list[Delivery]:
        """Send every queued notification, oldest first; each must be accepted."""
        sent: list[Delivery] = []
        while self.fake.outbox:
            delivery = self.fake.outbox.pop(0)
            response = await self.post(delivery.raw, delivery.headers)
            assert response.status_code == 200, (delivery.topic, response.text)
            self.delivered.append((delivery, response))
            sent.append(delivery)
        return sent

    async def opened(self) -> list[str]:
        return list(self.fake.conversations)

    async def received(self, remote_id: str) -> list[str]:
        return self.fake.received(remote_id)

    async def assign(self, remote_id: str, agent_name: str) -> None:
        self.fake.assign(remote_id, self.fake.admin_named(agent_name))
        await self.deliver()

    async def reply(
        self,
        remote_id: str,
        type: str,
        payload: Mapping[str, Any],
        *,
        message_id: str,
        agent_name: str = "Alice",
    ) -> None:
        """A teammate's reply; the same ``message_id`` again is Intercom redelivering it."""
        if message_id in self.by_message_id:
            for delivery in self.by_message_id[message_id]:
                response = await self.post(delivery.raw, delivery.headers)
                assert response.status_code == 200, response.text
            return
        admin = self.fake.admin_named(agent_name)
        body, attachments = _as_part(type, payload)
        self.fake.admin_reply(remote_id, admin, body, attachments=attachments)
        self.by_message_id[message_id] = await self.deliver()

    async def close(self, remote_id: str) -> None:
        self.fake.close(remote_id, self.fake.admin_named("Alice"))
        await self.deliver()

    def go_down(self) -> None:
        self.fake.down = True

    def come_back(self) -> None:
        self.fake.down = False


def _as_part(type: str, payload: Mapping[str, Any]) -> tuple[str, list[dict[str, Any]]]:
    """What a teammate types or uploads in the inbox for one kit message."""
    if type == "text":
        return f"<p>{payload['text']}</p>", []
    url = str(next(v for k, v in payload.items() if k.endswith("Url")))
    content_type = mimetypes.guess_type(url)[0] or "application/octet-stream"
    name = url.rsplit("/", 1)[-1]
    return "", [{"type": "upload", "name": name, "url": url, "content_type": content_type}]


@pytest.fixture
async def intercom() -> AsyncIterator[FakeIntercom]:
    async with serve(FakeIntercom(subscribed=TOPICS)) as fake:
        yield fake
    assert fake.invalid == [], "requests that break Intercom's OpenAPI contract"


@pytest.fixture
def helpdesk(intercom: FakeIntercom) -> IntercomHelpdesk:
    return IntercomHelpdesk(intercom)


@pytest.fixture
async def harness(helpdesk: IntercomHelpdesk, tmp_path: Path) -> AsyncIterator[HitlHarness]:
    started = await start_harness(helpdesk, tmp_path, agentAssignedTimeoutSeconds=0)
    yield started
    await started.runtime.stop()
    await started.runtime.store.close()


async def start_session(harness: HitlHarness, **start: Any) -> str:
    """A user says something, then the agent hands off; the Intercom conversation id."""
    await harness.say("my order is late")
    if start:
        conversation, user_id = await harness.user_conversation()
        await harness.runtime.plugins.hitl.actions.start_hitl(
            conversation_id=conversation.id, user_id=user_id, **start
        )
        await harness.settle()
    else:
        await harness.say("/starthitl")
    helpdesk = harness.helpdesk
    assert isinstance(helpdesk, IntercomHelpdesk)
    return (await helpdesk.opened())[-1]
