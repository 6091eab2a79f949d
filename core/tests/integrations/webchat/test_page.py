"""The webchat page in Debian's chromium: send, see the reply, rich payloads, a human agent."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Browser, Page

from ..conftest import ChatAgent

ARTIFACTS = Path(__file__).resolve().parents[4] / "test-artifacts"

pytestmark = [pytest.mark.browser, pytest.mark.slow]


@pytest.fixture
async def phone(chromium: Browser, served: str) -> AsyncIterator[Page]:
    context = await chromium.new_context(viewport={"width": 390, "height": 740}, is_mobile=True)
    page = await context.new_page()
    await page.goto(f"{served}/webhooks/webchat/")
    await page.wait_for_selector("#status:has-text('online')", timeout=10_000)
    yield page
    await context.close()


async def test_send_a_message_and_see_the_reply(phone: Page, agent: ChatAgent) -> None:
    await phone.fill("#input", "hello there")
    await phone.press("#input", "Enter")
    await phone.wait_for_selector(".row.mine:has-text('hello there')", timeout=10_000)
    await phone.wait_for_selector(".row.theirs:has-text('echo: hello there')", timeout=10_000)
    conversation = await agent.context("webchat").get_conversation(
        await agent.only_conversation("webchat")
    )
    assert conversation is not None and conversation.channel == "channel"
    ARTIFACTS.mkdir(exist_ok=True)
    await phone.screenshot(path=str(ARTIFACTS / "webchat-reply.png"))
    width = await phone.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, "the page scrolls sideways on a phone-sized screen"


async def test_rich_payloads_and_a_human_agent(phone: Page, agent: ChatAgent, served: str) -> None:
    agent.replying = False
    await phone.fill("#input", "start")
    await phone.click("#send")
    await phone.wait_for_selector(".row.mine:has-text('start')")
    conversation_id = await agent.only_conversation("webchat")
    await agent.send(conversation_id, {"markdown": "**Bold** move"}, type="markdown")
    await agent.send(
        conversation_id,
        {
            "title": "Plan",
            "subtitle": "Pick one",
            "actions": [{"action": "postback", "label": "Basic", "value": "plan-basic"}],
        },
        type="card",
    )
    await agent.send(
        conversation_id,
        {"text": "Size?", "options": [{"label": "Large", "value": "size-l"}]},
        type="choice",
    )
    await agent.send(
        conversation_id,
        {
            "items": [
                {"type": "text", "payload": {"text": "bloc text"}},
                {
                    "type": "file",
                    "payload": {"fileUrl": "https://example.com/r.pdf", "title": "r.pdf"},
                },
            ]
        },
        type="bloc",
    )
    await phone.wait_for_selector(".row.theirs strong:has-text('Bold')")
    await phone.wait_for_selector(".row.theirs a.file:has-text('r.pdf')")
    await phone.click(".row.theirs .card button:has-text('Basic')")
    await phone.wait_for_selector(".row.mine:has-text('plan-basic')")
    await phone.click(".row.theirs .choice button:has-text('Large')")
    await phone.wait_for_selector(".row.mine:has-text('size-l')")

    human = await agent.context("webchat").create_user(name="Sam from support")
    await agent.send(conversation_id, {"text": "Sam here"}, user_id=human.id)
    await phone.wait_for_selector(".row.theirs .author:has-text('Sam from support')")
    ARTIFACTS.mkdir(exist_ok=True)
    await phone.screenshot(path=str(ARTIFACTS / "webchat-rich.png"), full_page=True)


async def test_the_page_reconnects_and_catches_up(
    phone: Page, agent: ChatAgent, agent_server: Any
) -> None:
    agent.replying = False
    await phone.fill("#input", "first")
    await phone.press("#input", "Enter")
    await phone.wait_for_selector(".row.mine:has-text('first')")
    conversation_id = await agent.only_conversation("webchat")
    await agent_server.stop()
    await phone.wait_for_selector("#status:has-text('reconnecting')", timeout=10_000)
    await agent.send(conversation_id, {"text": "sent while you were away"})
    await agent_server.start()
    await phone.wait_for_selector(
        ".row.theirs:has-text('sent while you were away')", timeout=15_000
    )
    await phone.wait_for_selector("#status:has-text('online')")
    assert await phone.locator(".row").count() == 2
