"""The webchat integration: found by entry point, page at its base URL, API beside it."""

from __future__ import annotations

import httpx

from patchwire import Integration
from patchwire._discovery import installed
from patchwire.messages import PAYLOAD_MODELS

from ..conftest import ChatAgent


def test_chat_and_webchat_are_installed_integrations_covering_every_message_type() -> None:
    catalog = installed()
    for name in ("chat", "webchat"):
        integration = catalog.load("integration", name)
        assert isinstance(integration, Integration)
        assert integration.problems() == []
        assert set(integration.definition.channels["channel"].messages) == set(PAYLOAD_MODELS)
        assert integration.routes_factory is not None


async def test_the_page_and_the_api_share_the_base_url(agent: ChatAgent, served: str) -> None:
    async with httpx.AsyncClient(base_url=f"{served}/webhooks/webchat") as http:
        for path in ("", "/"):
            page = await http.get(path)
            assert page.status_code == 200
            assert page.headers["content-type"].startswith("text/html")
            assert "connect-src 'self'" in page.headers["content-security-policy"]
            assert '<meta name="viewport"' in page.text
        created = (await http.post("/users", json={})).json()
        key = {"x-user-key": created["key"]}
        conversation = (await http.post("/conversations", json={}, headers=key)).json()
    stored = await agent.context("webchat").get_conversation(
        await agent.only_conversation("webchat")
    )
    assert stored is not None
    assert stored.tags == {
        "webchat.chatId": conversation["conversation"]["id"],
        "webchat.chatOwner": created["user"]["id"],
    }
    assert stored.channel == "channel"
