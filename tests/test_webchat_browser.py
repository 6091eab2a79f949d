"""The web chat in Debian's chromium against real agents (server, runtime, SQLite store).

- the embed: one ``<script>`` tag on a page of another origin adds the chat; an origin that is
  not in ``allowedOrigins`` gets no grant, so its page cannot create anyone;
- a whole handoff with the HITL plugin, seen from the user's side (waiting, talking to a named
  human agent, back with the bot);
- sending while the server is down, then recovering with the retry (nothing lost or doubled);
- the page's own details: bot name and avatar, welcome text, timestamps, an image that cannot
  load shown as a link, no request anywhere that answers 404.

Screenshots go to ``test-artifacts/``.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import httpx
import pytest
from playwright.async_api import Browser, Page, Response
from sqlalchemy import text
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.responses import Response as StarletteResponse
from starlette.routing import Route

from patchwire import Catalog
from patchwire._discovery import installed
from patchwire.runtime import current_runtime
from patchwire.server import create_app, free_port
from patchwire.testing.loopback import LoopbackServer
from patchwire.testing.memory import MemoryHelpdesk

ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"
WAIT = 15_000

pytestmark = pytest.mark.slow

AVATAR = (
    '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 40 40"><circle cx="20" cy="20" r="20" '
    'fill="#ffb02e"/><text x="20" y="27" font-size="20" text-anchor="middle">P</text></svg>'
)

AGENT_PY = """\
from patchwire import Conversation, MessageContext, plugins

UNREACHABLE = "http://127.0.0.1:{closed}/missing.png"


async def handler(ctx: MessageContext) -> None:
    if ctx.text == "/human":
        await plugins.hitl.actions.start_hitl(
            title="Help", conversation_id=ctx.conversation.id, user_id=ctx.message.user_id
        )
    elif ctx.text == "/picture":
        await ctx.reply(type="image", payload={{"imageUrl": UNREACHABLE, "title": "The map"}})
    else:
        await ctx.reply(f"echo: {{ctx.text}}")


conversation = Conversation(channel="webchat.channel", handler=handler)
"""

AGENT_TOML = """\
name = "webchat-agent"

[integrations.webchat]
version = "webchat@latest"

[integrations.webchat.config]
botName = "Patch"
botAvatarUrl = "{site}/avatar.svg"
welcomeText = "Hi, I am Patch. Type /human to talk to a person."
allowedOrigins = ["{site}"]

[integrations.desk]
version = "memory-helpdesk@latest"

[plugins.hitl]
version = "hitl@latest"
config = {{ onHitlHandoffMessage = "Finding a person for you..." }}
dependencies.hitl = {{ integrationAlias = "desk", integrationInterfaceAlias = "hitl<hitlSession>" }}
"""


def site_app(agent_url: str) -> Starlette:
    """Another origin: a shop page with the embed snippet, and the bot's avatar."""

    async def home(request: Request) -> HTMLResponse:
        return HTMLResponse(
            '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Shop</title>'
            '<link rel="icon" href="data:,"></head><body><h1>A shop on another origin</h1>'
            f'<script src="{agent_url}/webhooks/webchat/embed.js" async></script></body></html>'
        )

    async def avatar(request: Request) -> StarletteResponse:
        return StarletteResponse(AVATAR, media_type="image/svg+xml")

    return Starlette(routes=[Route("/", home), Route("/avatar.svg", avatar)])


class Agent:
    """A running web chat agent with the HITL plugin and an in-memory helpdesk."""

    def __init__(self, server: LoopbackServer, helpdesk: MemoryHelpdesk, site: str) -> None:
        self.server = server
        self.helpdesk = helpdesk
        self.site = site
        self.url = f"{server.url}/webhooks/webchat"

    async def count(self, table: str) -> int:
        store = current_runtime().store
        async with store.engine.connect() as session:
            return int((await session.execute(text(f"SELECT count(*) FROM {table}"))).scalar_one())


@pytest.fixture
async def agent(tmp_path: Path) -> AsyncIterator[Agent]:
    helpdesk = MemoryHelpdesk()
    catalog = Catalog.from_objects(
        interfaces=[installed().load("interface", "hitl")],  # type: ignore[list-item]
        integrations=[
            installed().load("integration", "webchat"),  # type: ignore[list-item]
            helpdesk.integration,
        ],
        plugins=[installed().load("plugin", "hitl")],  # type: ignore[list-item]
    )
    port = free_port()
    site = LoopbackServer(site_app(f"http://127.0.0.1:{port}"))
    (tmp_path / "agent.toml").write_text(AGENT_TOML.format(site=site.url))
    (tmp_path / "agent.py").write_text(AGENT_PY.format(closed=free_port()))
    server = LoopbackServer(create_app(tmp_path, catalog=catalog), port=port)
    async with site, server:
        helpdesk.attach(current_runtime(), "desk")
        yield Agent(server, helpdesk, site.url)


NotFound = list[str]


@pytest.fixture
async def open_page(chromium: Browser) -> AsyncIterator[Callable[[str], Awaitable[Page]]]:
    """A fresh phone-sized page at a URL; every answer 404 on it fails the test at the end."""
    contexts = []
    not_found: NotFound = []

    def watch(response: Response) -> None:
        if response.status == 404:
            not_found.append(response.url)

    async def open_at(url: str) -> Page:
        context = await chromium.new_context(viewport={"width": 390, "height": 740})
        contexts.append(context)
        page = await context.new_page()
        page.on("response", watch)
        await page.goto(url)
        return page

    yield open_at
    for context in contexts:
        await context.close()
    assert not_found == [], "the page requested URLs that answer 404"


def shot(name: str) -> str:
    ARTIFACTS.mkdir(exist_ok=True)
    return str(ARTIFACTS / name)


async def say(page: Page, text: str) -> None:
    await page.fill("#input", text)
    await page.press("#input", "Enter")


@pytest.mark.browser
async def test_the_page_shows_the_bot_welcome_times_and_a_broken_image_as_a_link(
    agent: Agent, open_page: Callable[[str], Awaitable[Page]]
) -> None:
    page = await open_page(agent.url)
    await page.wait_for_selector("#status:has-text('online')", timeout=WAIT)
    assert await page.title() == "Patch"
    assert await page.text_content("header h1") == "Patch"
    await page.wait_for_selector("header img[src$='/avatar.svg']")
    assert "Type /human" in (await page.text_content(".welcome") or "")
    assert await page.evaluate("document.activeElement.id") == "input"
    await say(page, "hello")
    reply = page.locator(".row.theirs:has-text('echo: hello')")
    await reply.wait_for(timeout=WAIT)
    await page.wait_for_selector(".row.theirs .author:has-text('Patch')")
    assert await page.locator(".row time[datetime]").count() == 2
    await say(page, "/picture")
    broken = page.locator(".row.theirs a.broken-image")
    await broken.wait_for(timeout=WAIT)
    assert await broken.text_content() == "Open image: The map"
    assert await broken.get_attribute("target") == "_blank"
    assert "missing.png" in (await broken.get_attribute("href") or "")
    assert await page.locator(".row.theirs img.media").count() == 0
    assert await page.get_attribute("#messages", "aria-live") == "polite"
    assert await page.get_attribute("label[for='input']", "class") == "sr-only"
    await page.screenshot(path=shot("webchat-page.png"))


@pytest.mark.browser
async def test_a_whole_handoff_seen_from_the_users_side(
    agent: Agent, open_page: Callable[[str], Awaitable[Page]]
) -> None:
    page = await open_page(agent.url)
    await page.wait_for_selector("#status:has-text('online')", timeout=WAIT)
    await say(page, "/human")
    await page.wait_for_selector("#status:has-text('Waiting for a human agent')", timeout=WAIT)
    await page.wait_for_selector(".notice:has-text('Waiting for a human agent to join')")
    await page.wait_for_selector(".row.theirs:has-text('Finding a person for you')")
    await page.screenshot(path=shot("webchat-handoff-waiting.png"))

    (remote,) = await agent.helpdesk.opened()
    await agent.helpdesk.assign(remote, "Sam Rivera")
    await page.wait_for_selector("#status:has-text('Talking to Sam Rivera')", timeout=WAIT)
    await page.wait_for_selector(".notice:has-text('Sam Rivera joined the conversation')")
    await agent.helpdesk.reply(
        remote,
        "text",
        {"text": "Hi, Sam here. How can I help?"},
        message_id="d1",
        agent_name="Sam Rivera",
    )
    await page.wait_for_selector(
        ".row.theirs:has(.author:has-text('Sam Rivera')):has-text('Sam here')", timeout=WAIT
    )
    await say(page, "my order is late")
    for _ in range(100):
        if "my order is late" in await agent.helpdesk.received(remote):
            break
        await asyncio.sleep(0.1)
    assert (await agent.helpdesk.received(remote)).count("my order is late") == 1
    assert await page.locator(".notice:has-text('joined the conversation')").count() == 1
    await page.screenshot(path=shot("webchat-handoff-assigned.png"))

    await agent.helpdesk.close(remote)
    await page.wait_for_selector("#status:has-text('Back with Patch')", timeout=WAIT)
    await page.wait_for_selector(
        ".notice:has-text('Sam Rivera left the conversation. You are back with Patch.')"
    )
    await say(page, "thanks")
    await page.wait_for_selector(".row.theirs:has-text('echo: thanks')", timeout=WAIT)
    await page.screenshot(path=shot("webchat-handoff-ended.png"))

    await page.reload()
    await page.wait_for_selector("#status:has-text('Back with Patch')", timeout=WAIT)
    assert await page.locator(".row.theirs:has-text('echo: thanks')").count() == 1


@pytest.mark.browser
async def test_a_message_sent_while_the_server_is_down_is_kept_and_retried(
    agent: Agent, open_page: Callable[[str], Awaitable[Page]]
) -> None:
    page = await open_page(agent.url)
    await page.wait_for_selector("#status:has-text('online')", timeout=WAIT)
    await say(page, "first")
    await page.wait_for_selector(".row.theirs:has-text('echo: first')", timeout=WAIT)
    await agent.server.stop()
    await page.wait_for_selector("#status:has-text('reconnecting')", timeout=WAIT)
    await say(page, "sent while down")
    failed = page.locator(".row.mine.failed:has-text('sent while down')")
    await failed.wait_for(timeout=WAIT)
    assert await failed.locator(".meta").text_content() == "Not sent.Retry"
    assert await page.input_value("#input") == ""
    await page.screenshot(path=shot("webchat-server-down.png"))

    await agent.server.start()
    agent.helpdesk.attach(current_runtime(), "desk")
    await page.wait_for_selector("#status:has-text('online')", timeout=WAIT)
    await failed.locator("button.retry").click()
    await page.wait_for_selector(".row.theirs:has-text('echo: sent while down')", timeout=WAIT)
    assert await page.locator(".row.mine:has-text('sent while down')").count() == 1
    assert await page.locator(".row.failed, .row.pending").count() == 0
    assert await agent.count("messages") == 4, "two messages and two replies, none doubled"
    await page.screenshot(path=shot("webchat-server-recovered.png"))


@pytest.mark.browser
async def test_the_embed_works_on_an_allowed_origin_and_gets_no_grant_elsewhere(
    agent: Agent, open_page: Callable[[str], Awaitable[Page]]
) -> None:
    shop = await open_page(agent.site)
    launcher = shop.locator("#patchwire-webchat .launcher")
    await launcher.wait_for(timeout=WAIT)
    assert await launcher.get_attribute("aria-expanded") == "false"
    assert await agent.count("users") == 0, "nothing is created before the chat is opened"
    await launcher.focus()
    await shop.keyboard.press("Enter")
    await shop.wait_for_selector("#patchwire-webchat #status:has-text('online')", timeout=WAIT)
    assert (
        await shop.evaluate(
            "document.querySelector('#patchwire-webchat').shadowRoot.activeElement.id"
        )
        == "input"
    )
    await say(shop, "hello from the shop")
    await shop.wait_for_selector(
        "#patchwire-webchat .row.theirs:has-text('echo: hello from the shop')", timeout=WAIT
    )
    await shop.screenshot(path=shot("webchat-embed-open.png"))
    await shop.keyboard.press("Escape")
    assert await launcher.get_attribute("aria-expanded") == "false"
    assert await shop.locator("#patchwire-webchat .panel").is_hidden()
    focused = "document.querySelector('#patchwire-webchat').shadowRoot.activeElement.className"
    assert await shop.evaluate(focused) == "launcher", "the focus goes back to the button"
    assert await agent.count("users") == 1

    elsewhere = LoopbackServer(site_app(agent.server.url))
    async with elsewhere:
        foreign = await open_page(elsewhere.url)
        errors: list[str] = []
        foreign.on("console", lambda message: errors.append(message.text))
        await foreign.locator("#patchwire-webchat .launcher").click()
        await foreign.wait_for_selector(
            "#patchwire-webchat .notice:has-text('This chat is not enabled on "
            f"{elsewhere.url}: add it to allowedOrigins')",
            timeout=WAIT,
        )
        await foreign.wait_for_selector("#patchwire-webchat #status:has-text('not available')")
        await say(foreign, "let me in")
        await foreign.wait_for_selector("#patchwire-webchat .row.mine.failed:has-text('let me in')")
        await foreign.screenshot(path=shot("webchat-embed-foreign-origin.png"))
        # The page's own check is a courtesy; the API's CORS policy is what keeps it out:
        blocked = await foreign.evaluate(
            """async (api) => {
                try { await fetch(api + "/users", {method: "POST", body: "{}",
                      headers: {"content-type": "application/json"}}); return "answered"; }
                catch (error) { return error.name; }
            }""",
            agent.url,
        )
    assert blocked == "TypeError", "the browser refused the request: no CORS grant"
    assert any("CORS" in text for text in errors), errors
    assert any("not enabled on" in text for text in errors), errors
    assert await agent.count("users") == 1, "the foreign origin created no one"


async def test_the_handoff_reaches_the_users_channel_as_three_events(agent: Agent) -> None:
    """The HITL plugin's announcements, read off the stream the page listens to."""
    async with httpx.AsyncClient(base_url=agent.url, timeout=20) as http:
        created = (await http.post("/users", json={})).json()
        key = {"x-user-key": created["key"]}
        conversation = (await http.post("/conversations", json={}, headers=key)).json()
        conversation_id = conversation["conversation"]["id"]
        announced: list[dict[str, object]] = []
        async with http.stream(
            "GET", f"/conversations/{conversation_id}/listen", headers=key
        ) as stream:

            async def read() -> None:
                async for line in stream.aiter_lines():
                    if not line.startswith("data: {"):
                        continue
                    signal = json.loads(line[6:])
                    if signal["type"] == "event_created":
                        announced.append(signal["data"])

            reader = asyncio.create_task(read())
            body = {
                "conversationId": conversation_id,
                "payload": {"type": "text", "text": "/human"},
            }
            await http.post("/messages", json=body, headers=key)
            await until(lambda: len(announced) == 1)
            (remote,) = await agent.helpdesk.opened()
            await agent.helpdesk.assign(remote, "Sam Rivera")
            await until(lambda: len(announced) == 2)
            await agent.helpdesk.close(remote)
            await until(lambda: len(announced) == 3)
            await asyncio.sleep(0.5)
            reader.cancel()
    assert [event["payload"] for event in announced] == [
        {"type": "patchwire.handoff", "state": "waiting", "agentName": None},
        {"type": "patchwire.handoff", "state": "assigned", "agentName": "Sam Rivera"},
        {"type": "patchwire.handoff", "state": "ended", "agentName": "Sam Rivera"},
    ]
    assert {(event["userId"], event["isBot"]) for event in announced} == {("bot", True)}
    async with httpx.AsyncClient(base_url=agent.url) as http:
        fetched = await http.get(f"/events/{announced[0]['id']}", headers=key)
    assert fetched.json()["event"] == {k: v for k, v in announced[0].items() if k != "isBot"}


async def until(condition: Callable[[], bool]) -> None:
    for _ in range(150):
        if condition():
            return
        await asyncio.sleep(0.1)
    raise AssertionError("timed out waiting for the handoff's events")
