"""The desk's page in chromium: log in, hear of a new conversation, claim, reply, close.

Alice works in one browser context and Bob in another, so each has their own login cookie;
what the agent (patchwire's side, the contract-checking fake) received is counted at the end.
Screenshots go to ``test-artifacts/desk-*.png``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from patchwire_generic_hitl import ServiceClient

from .conftest import PASSWORD, FakeAgent, RunningDesk, handed_off

pytestmark = [pytest.mark.browser, pytest.mark.slow]

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[4] / "test-artifacts"


@pytest.fixture
async def chromium() -> AsyncIterator[Any]:
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is missing: install Debian's chromium (apt-get install chromium)")
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=str(CHROMIUM),
            args=[
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--autoplay-policy=no-user-gesture-required",
            ],
        )
        try:
            yield browser
        finally:
            await browser.close()


async def logged_in(chromium: Any, desk: RunningDesk, name: str) -> Any:
    """A page of a fresh browser context, logged in as ``name`` through the login form."""
    await desk.add_agent(name)
    context = await chromium.new_context(viewport={"width": 1100, "height": 700})
    page = await context.new_page()
    await page.goto(desk.url)
    assert page.url == f"{desk.url}/login"
    await page.fill("#name", name)
    await page.fill("#password", "not the password")
    await page.click("#submit")
    await page.wait_for_selector("#error:has-text('wrong name or password')")
    await page.fill("#password", PASSWORD)
    await page.click("#submit")
    await page.wait_for_selector(f"#me:has-text('{name}')")
    await page.wait_for_selector("#live:has-text('live')")
    return page


async def test_login_claim_reply_close_in_the_browser(
    chromium: Any, desk: RunningDesk, patchwire: ServiceClient, agent: FakeAgent
) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    first = await handed_off(patchwire)
    alice = await logged_in(chromium, desk, "Alice")
    await alice.screenshot(path=str(ARTIFACTS / "desk-1-logged-in.png"))
    bob = await logged_in(chromium, desk, "Bob")

    await alice.click("#queue .item")  # a gesture: the page may play sound from now on
    assert await alice.locator("#cue").is_hidden()
    second = await handed_off(patchwire)
    cue = alice.locator("#cue")
    await cue.wait_for()
    assert await cue.inner_text() == "New conversation waiting"
    assert (await alice.title()).startswith("(1) ")
    assert await alice.evaluate("document.body.dataset.chimes") == "1"
    await alice.locator(f"#queue .item.fresh[data-id='{second}']").wait_for()
    await alice.screenshot(path=str(ARTIFACTS / "desk-2-new-conversation-cue.png"))

    await alice.click(f"#queue .item[data-id='{first}']")
    await alice.wait_for_selector("#history .message.user:has-text('where is my order?')")
    assert await alice.locator("#reply").is_disabled()
    await alice.click("#claim")
    await alice.wait_for_selector("#status:has-text('claimed by Alice')")
    await alice.fill("#reply", "Hello, Alice here. Your order ships today.")
    await alice.press("#reply", "Enter")
    await alice.wait_for_selector("#history .message.agent:has-text('ships today')")
    await alice.screenshot(path=str(ARTIFACTS / "desk-3-claimed-and-replied.png"))

    await bob.click(f"#queue .item[data-id='{first}']")
    await bob.wait_for_selector("#status:has-text('claimed by Alice')")
    await bob.wait_for_selector("#history .message.agent:has-text('ships today')")
    assert await bob.locator("#reply").is_disabled()
    assert await bob.locator("#close").is_disabled()
    assert await bob.locator("#claim").is_disabled()
    assert (
        await bob.get_attribute("#reply", "placeholder") == "Alice is answering this conversation"
    )
    await bob.screenshot(path=str(ARTIFACTS / "desk-4-another-agent-sees-it-taken.png"))

    await alice.click("#close")
    await alice.wait_for_selector("#status:has-text('closed by Alice')")
    await bob.wait_for_selector("#status:has-text('closed by Alice')")
    assert await alice.locator("#reply").is_disabled()
    await alice.screenshot(path=str(ARTIFACTS / "desk-5-closed.png"))

    await alice.click("#logout")
    await alice.wait_for_url(f"{desk.url}/login")
    await alice.goto(desk.url)
    assert alice.url == f"{desk.url}/login"

    assert [(path, body.get("remoteConversationId")) for path, body in agent.calls] == [
        ("agent-assigned", first),
        ("message-from-agent", first),
        ("stop-hitl", first),
    ]
    assert agent.calls[1][1]["payload"] == {"text": "Hello, Alice here. Your order ships today."}
