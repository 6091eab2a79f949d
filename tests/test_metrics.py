"""``/metrics`` scraped over HTTP from the example support agent after a real handoff.

The agent is served by uvicorn on loopback (``create_app``, the app ``patchwire serve`` runs);
the user talks to it through the Chat API over HTTP, the human agent through generic-hitl's
signed webhooks, and the helpdesk is generic-hitl's fake service. Every count asserted is
checked against what the user saw and what the helpdesk received, not against a constant.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from integrations.generic_hitl.tests.conftest import SECRET, FakeService, GenericHelpdesk
from integrations.generic_hitl.tests.conftest import service as service  # the fixture
from patchwire.runtime import current_runtime
from patchwire.server import create_app
from patchwire.testing.loopback import LoopbackServer
from tests.test_faults import until

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "support-agent"
JOINED = "A human agent has joined the conversation."

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


@pytest.fixture
async def agent_url(
    service: FakeService, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[str]:
    monkeypatch.setenv("HITL_ENDPOINT_BASE_URL", service.url)
    monkeypatch.setenv("HITL_SIGNING_SECRET", SECRET)
    app = create_app(EXAMPLE / "agent.toml", database_url=f"sqlite:///{tmp_path / 'agent.db'}")
    async with LoopbackServer(app) as server:
        yield server.url


class ChatUser:
    """A Chat API user over HTTP; the server's own loop answers."""

    def __init__(self, base_url: str) -> None:
        self.api = httpx.AsyncClient(base_url=f"{base_url}/webhooks/chat", timeout=10)
        self.conversation = ""
        self.me = ""
        self.said = 0

    async def join(self) -> None:
        created = (await self.api.post("/users", json={})).json()
        self.api.headers["x-user-key"] = created["key"]
        self.me = created["user"]["id"]
        opened = (await self.api.post("/conversations", json={})).json()
        self.conversation = opened["conversation"]["id"]

    async def say(self, text: str) -> None:
        payload = {"type": "text", "text": text}
        response = await self.api.post(
            "/messages", json={"conversationId": self.conversation, "payload": payload}
        )
        assert response.status_code == 200, response.text
        self.said += 1

    async def sees(self) -> list[str]:
        listed = await self.api.get(f"/conversations/{self.conversation}/messages")
        newest_first = listed.json()["messages"]
        return [
            str(m["payload"].get("text")) for m in reversed(newest_first) if m["userId"] != self.me
        ]


async def scrape(client: httpx.AsyncClient, **headers: str) -> Samples:
    response = await client.get("/metrics", headers=headers)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain; version=")
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples[(name, frozenset(labels.items()))]


async def test_metrics_count_a_whole_handoff(agent_url: str, service: FakeService) -> None:
    helpdesk = GenericHelpdesk(service)
    helpdesk.attach(current_runtime(), "hitl")
    user = ChatUser(agent_url)
    metrics = httpx.AsyncClient(base_url=agent_url)
    try:
        before = await scrape(metrics)
        assert value(before, "patchwire_hitl_sessions", alias="hitl", state="active") == 0
        assert value(before, "patchwire_jobs", status="pending") == 0

        await user.join()
        await user.say("hello")
        await until(lambda: _count(user, 1), 10, "the bot's greeting")
        await user.say("/starthitl")
        await until(lambda: helpdesk.opened(), 10, "the remote conversation")
        [remote] = await helpdesk.opened()
        await helpdesk.assign(remote, "Alice")
        await until(lambda: _sees(user, JOINED), 10, "the agent joining")
        await helpdesk.reply(remote, "text", {"text": "Alice here"}, message_id="m1")
        await helpdesk.reply(remote, "text", {"text": "How can I help?"}, message_id="m2")
        await until(lambda: _sees(user, "How can I help?"), 10, "the human's replies")

        during = await scrape(metrics)
        assert value(during, "patchwire_hitl_sessions", alias="hitl", state="active") == 1
        assert value(during, "patchwire_hitl_assignment_seconds_count", alias="hitl") == 1
        assert value(during, "patchwire_hitl_first_reply_seconds_count", alias="hitl") == 1

        await user.say("thanks, bye")
        await until(lambda: _relayed(service, remote, "thanks, bye"), 10, "the relayed text")
        await user.say("/end")
        await until(lambda: service.conversations[remote]["closed"], 10, "the ticket closed")
        await until(lambda: _idle(metrics), 10, "no job left")
        after = await scrape(metrics)
        seen = await user.sees()
    finally:
        await user.api.aclose()
        await metrics.aclose()

    to_helpdesk = [body for path, body in service.requests if path == "/botSendsMessage"]
    expected: dict[tuple[str, str], float] = {
        ("patchwire_messages_received_total", "chat"): user.said,
        ("patchwire_messages_received_total", "hitl"): 2,  # the two replies
        ("patchwire_messages_sent_total", "chat"): len(seen),
        ("patchwire_messages_sent_total", "hitl"): len(to_helpdesk),
    }
    for (name, integration), count in expected.items():
        assert value(after, name, integration=integration) == count, (name, integration)
    assert [b["payload"]["text"] for b in to_helpdesk] == [
        "thanks, bye",
        "( The user has ended the session. )",
    ]
    assert value(after, "patchwire_outgoing_calls_total", **_call("chat", "send")) == len(seen)
    assert value(after, "patchwire_outgoing_calls_total", **_call("hitl", "send")) == len(
        to_helpdesk
    )
    for action in ("create_user", "start_hitl"):
        assert value(after, "patchwire_outgoing_calls_total", **_call("hitl", action)) == 1
    assert value(after, "patchwire_outgoing_calls_total", **_call("hitl", "stop_hitl")) == 1
    statuses = {dict(labels)["status"] for name, labels in after if name.endswith("calls_total")}
    assert statuses == {"ok"}, "nothing failed or was retried"
    every_message = user.said + 2
    assert value(after, "patchwire_pipeline_seconds_count") == every_message
    assert value(after, "patchwire_pipeline_seconds_bucket", le="+Inf") == every_message
    for status in ("pending", "running", "failed"):
        assert value(after, "patchwire_jobs", status=status) == 0
    assert value(after, "patchwire_oldest_job_age_seconds") == 0
    states = {s: value(after, "patchwire_hitl_sessions", alias="hitl", state=s) for s in _STATES}
    assert states == {"starting": 0, "active": 0, "ended": 1}
    ended = {"alias": "hitl", "end_reason": "patient-used-termination-command"}
    assert value(after, "patchwire_hitl_session_duration_seconds_count", **ended) == 1
    assert value(after, "patchwire_hitl_assignment_seconds_count", alias="hitl") == 1
    assert value(after, "patchwire_hitl_first_reply_seconds_count", alias="hitl") == 1


async def test_a_metrics_token_is_asked_for_when_set(
    agent_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATCHWIRE_METRICS_TOKEN", "s3cret")
    async with httpx.AsyncClient(base_url=agent_url) as client:
        for headers in ({}, {"authorization": "Bearer wrong"}, {"authorization": "s3cret"}):
            refused = await client.get("/metrics", headers=headers)
            assert refused.status_code == 401, headers
            assert refused.json() == {
                "error": "/metrics needs 'Authorization: Bearer <$PATCHWIRE_METRICS_TOKEN>'"
            }
        samples = await scrape(client, authorization="Bearer s3cret")
        assert value(samples, "patchwire_jobs", status="failed") == 0


_STATES = ("starting", "active", "ended")


def _call(integration: str, call: str) -> dict[str, str]:
    return {"integration": integration, "call": call, "status": "ok"}


async def _count(user: ChatUser, at_least: int) -> bool:
    return len(await user.sees()) >= at_least


async def _sees(user: ChatUser, text: str) -> bool:
    return text in await user.sees()


def _relayed(service: FakeService, remote: str, text: str) -> bool:
    received: list[Any] = service.conversations[remote]["received"]
    return any(text in str(line) for line in received)


async def _idle(client: httpx.AsyncClient) -> bool:
    samples = await scrape(client)
    return all(value(samples, "patchwire_jobs", status=s) == 0 for s in ("pending", "running"))
