"""Who may do what in the desk: nobody without a login, each agent only their own claims.

Two agents (Alice, Bob) and an admin, over real HTTP; every refusal is checked for its status
and reason, and then for what it did not do (no call reached the agent, nothing changed).
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from patchwire_generic_hitl import ServiceClient

from .conftest import ADMIN, PASSWORD, FakeAgent, RunningDesk, handed_off

pytestmark = pytest.mark.usefixtures("agent")


@pytest.fixture
async def browser_session(desk: RunningDesk) -> AsyncIterator[tuple[httpx.AsyncClient, str]]:
    """Alice logged in the way the page is: a cookie, and the CSRF token from the login."""
    await desk.add_agent("Alice")
    async with httpx.AsyncClient(base_url=desk.url, timeout=30) as client:
        login = await client.post("/api/login", json={"name": "alice", "password": PASSWORD})
        assert login.status_code == 200, login.text
        yield client, login.json()["csrfToken"]


async def status(desk: RunningDesk, remote: str) -> tuple[str, str | None]:
    conversation = await desk.conversation(remote)
    return conversation["status"], conversation["agent"]


def sent(agent: FakeAgent, path: str) -> int:
    return sum(1 for called, _ in agent.calls if called == path)


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/api/conversations"),
        ("GET", "/api/conversations/{id}"),
        ("GET", "/api/events"),
        ("GET", "/api/me"),
        ("POST", "/api/conversations/{id}/claim"),
        ("POST", "/api/conversations/{id}/messages"),
        ("POST", "/api/conversations/{id}/close"),
        ("POST", "/api/logout"),
    ],
)
@pytest.mark.parametrize(
    ("credentials", "reason"),
    [
        ({}, "log in first"),
        ({"cookies": {"patchwire_desk_login": "forged-cookie-value"}}, "has expired or was ended"),
        ({"headers": {"authorization": "Bearer forged-token"}}, "unknown or expired bearer"),
        ({"headers": {"authorization": "Basic YWxpY2U6eA=="}}, "must be 'Bearer <token>'"),
    ],
    ids=["no-login", "forged-cookie", "forged-token", "wrong-scheme"],
)
async def test_nobody_gets_in_without_a_login(
    desk: RunningDesk,
    patchwire: ServiceClient,
    agent: FakeAgent,
    method: str,
    path: str,
    credentials: dict[str, dict[str, str]],
    reason: str,
) -> None:
    remote = await handed_off(patchwire)
    async with httpx.AsyncClient(base_url=desk.url, timeout=30, **credentials) as client:
        body = {"json": {"type": "text", "text": "hi"}} if method == "POST" else {}
        response = await client.request(method, path.format(id=remote), **body)
    assert response.status_code == 401, response.text
    assert reason in response.json()["error"]
    assert await status(desk, remote) == ("waiting", None)
    assert agent.calls == []


async def test_the_page_needs_a_login_and_a_forged_cookie_is_not_one(desk: RunningDesk) -> None:
    forged = await desk.api.get("/", headers={"cookie": f"patchwire_desk_login={'x' * 43}"})
    assert (forged.status_code, forged.headers["location"]) == (303, "login")


async def test_wrong_passwords_and_unknown_names_get_the_same_answer(desk: RunningDesk) -> None:
    await desk.add_agent("Alice")
    for credentials in (
        {"name": "Alice", "password": "not the password"},
        {"name": "Mallory", "password": PASSWORD},
    ):
        for route in ("/api/login", "/api/tokens"):
            response = await desk.api.post(route, json=credentials)
            assert (response.status_code, response.json()) == (
                401,
                {"error": "wrong name or password"},
            )
            assert "set-cookie" not in response.headers
    missing = await desk.api.post("/api/login", json={"name": "Alice"})
    assert missing.status_code == 400 and "password" in missing.json()["error"]


async def test_a_cookie_login_is_httponly_and_same_site(desk: RunningDesk) -> None:
    await desk.add_agent("Alice")
    login = await desk.api.post("/api/login", json={"name": "Alice", "password": PASSWORD})
    cookie = login.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie and "path=/" in cookie
    assert login.json()["agent"] == {"name": "Alice", "admin": False}


async def test_a_cookie_login_posts_only_with_its_csrf_token(
    desk: RunningDesk,
    patchwire: ServiceClient,
    agent: FakeAgent,
    browser_session: tuple[httpx.AsyncClient, str],
) -> None:
    client, csrf = browser_session
    remote = await handed_off(patchwire)
    claim = f"/api/conversations/{remote}/claim"
    for headers, reason in (
        ({}, "missing or wrong X-CSRF-Token"),
        ({"x-csrf-token": "guessed"}, "missing or wrong X-CSRF-Token"),
    ):
        refused = await client.post(claim, json={}, headers=headers)
        assert (refused.status_code, reason in refused.json()["error"]) == (403, True)
    assert await status(desk, remote) == ("waiting", None)
    assert agent.calls == []
    me = await client.get("/api/me")
    assert me.json() == {"agent": {"name": "Alice", "admin": False}, "csrfToken": csrf}
    accepted = await client.post(claim, json={}, headers={"x-csrf-token": csrf})
    assert accepted.status_code == 200, accepted.text
    assert await status(desk, remote) == ("claimed", "Alice")
    assert sent(agent, "agent-assigned") == 1


async def test_cross_origin_and_text_plain_posts_are_refused(
    desk: RunningDesk,
    patchwire: ServiceClient,
    agent: FakeAgent,
    browser_session: tuple[httpx.AsyncClient, str],
) -> None:
    """What a form or ``fetch(..., {mode: "no-cors"})`` on another site can send."""
    client, csrf = browser_session
    remote = await handed_off(patchwire)
    claim = f"/api/conversations/{remote}/claim"
    cases = [
        ({"origin": "https://evil.example", "content-type": "text/plain"}, 403, "cross-origin"),
        ({"origin": "https://evil.example", "content-type": "application/json"}, 403, "cross"),
        ({"origin": "null", "content-type": "text/plain"}, 403, "cross-origin"),
        ({"sec-fetch-site": "cross-site", "content-type": "application/json"}, 403, "cross-site"),
        ({"content-type": "text/plain"}, 415, "application/json"),
        ({"content-type": "application/x-www-form-urlencoded"}, 415, "application/json"),
    ]
    for headers, code, reason in cases:
        refused = await client.post(claim, content=b"{}", headers={**headers, "x-csrf-token": csrf})
        assert refused.status_code == code, (headers, refused.text)
        assert reason in refused.json()["error"]
    login = await desk.api.post(
        "/api/login",
        content=b'{"name": "Alice", "password": "%s"}' % PASSWORD.encode(),
        headers={"origin": "https://evil.example", "content-type": "text/plain"},
    )
    assert login.status_code == 403 and "set-cookie" not in login.headers
    assert await status(desk, remote) == ("waiting", None)
    assert agent.calls == []
    same_origin = await client.post(
        claim, json={}, headers={"origin": desk.url, "x-csrf-token": csrf}
    )
    assert same_origin.status_code == 200, same_origin.text


async def test_only_the_claimer_or_an_admin_replies_and_closes(
    desk: RunningDesk, patchwire: ServiceClient, agent: FakeAgent
) -> None:
    remote = await handed_off(patchwire)
    assert (await desk.act(remote, "claim", agent="Alice")).status_code == 200
    taken = await desk.act(remote, "claim", agent="Bob")
    assert (taken.status_code, taken.json()["error"]) == (409, "already claimed by Alice")
    mine = await desk.act(remote, "messages", agent="Alice", type="text", text="Alice here")
    assert mine.status_code == 200, mine.text

    reply = await desk.act(remote, "messages", agent="Bob", type="text", text="Bob here")
    assert (reply.status_code, reply.json()["error"]) == (
        403,
        "Alice claimed this conversation: only they or an admin can reply",
    )
    close = await desk.act(remote, "close", agent="Bob")
    assert (close.status_code, close.json()["error"]) == (
        403,
        "Alice claimed this conversation: only they or an admin can close it",
    )
    again = await desk.redeliver(mine.json()["id"], agent="Bob")
    assert (again.status_code, again.json()["error"]) == (
        403,
        "Alice wrote this message: only they or an admin can send it again",
    )
    assert await status(desk, remote) == ("claimed", "Alice")
    texts = [m["payload"].get("text") for m in (await desk.conversation(remote))["messages"]]
    assert "Bob here" not in texts
    assert (sent(agent, "message-from-agent"), sent(agent, "stop-hitl")) == (1, 0)

    helped = await desk.act(remote, "messages", agent=ADMIN, type="text", text="Admin here")
    assert helped.status_code == 200, helped.text
    assert (await desk.redeliver(mine.json()["id"], agent=ADMIN)).status_code == 200
    assert (await desk.act(remote, "close", agent=ADMIN)).status_code == 200
    conversation = await desk.conversation(remote)
    assert (conversation["status"], conversation["closedBy"]) == ("closed", ADMIN)
    assert [(path, body.get("remoteUserId")) for path, body in agent.calls] == [
        ("agent-assigned", "agent:Alice"),
        ("message-from-agent", "agent:Alice"),
        ("message-from-agent", "agent:Admin"),
        ("message-from-agent", "agent:Alice"),
        ("stop-hitl", None),
    ]


async def test_a_conversation_nobody_claimed_is_closed_by_an_admin_only(
    desk: RunningDesk, patchwire: ServiceClient, agent: FakeAgent
) -> None:
    remote = await handed_off(patchwire)
    refused = await desk.act(remote, "close", agent="Alice")
    assert (refused.status_code, refused.json()["error"]) == (
        403,
        "nobody claimed this conversation: claim it first, or ask an admin",
    )
    early = await desk.act(remote, "messages", agent=ADMIN, type="text", text="hello?")
    assert early.status_code == 409 and "claim the conversation first" in early.json()["error"]
    assert agent.calls == []
    assert (await desk.act(remote, "close", agent=ADMIN)).status_code == 200
    assert [path for path, _ in agent.calls] == ["stop-hitl"]


async def test_logging_out_ends_the_login_everywhere(
    desk: RunningDesk, browser_session: tuple[httpx.AsyncClient, str]
) -> None:
    client, csrf = browser_session
    cookie = client.cookies["patchwire_desk_login"]
    assert (await client.post("/api/logout", json={}, headers={"x-csrf-token": csrf})).is_success
    replayed = await desk.api.get("/api/me", headers={"cookie": f"patchwire_desk_login={cookie}"})
    assert replayed.status_code == 401
    bearer = await desk.agent("Bob")
    assert (await bearer.post("/api/logout", json={})).is_success
    assert (await bearer.get("/api/me")).status_code == 401


async def test_a_login_of_one_kind_is_not_the_other(desk: RunningDesk) -> None:
    """A bearer token in a cookie (or a cookie as a bearer token) would skip or need CSRF."""
    await desk.add_agent("Alice")
    token = (
        await desk.api.post("/api/tokens", json={"name": "Alice", "password": PASSWORD})
    ).json()["token"]
    as_cookie = await desk.api.get("/api/me", headers={"cookie": f"patchwire_desk_login={token}"})
    assert as_cookie.status_code == 401
    async with httpx.AsyncClient(base_url=desk.url) as client:
        await client.post("/api/login", json={"name": "Alice", "password": PASSWORD})
        cookie = client.cookies["patchwire_desk_login"]
    as_bearer = await desk.api.get("/api/me", headers={"authorization": f"Bearer {cookie}"})
    assert as_bearer.status_code == 401


async def test_a_new_password_ends_the_old_logins(desk: RunningDesk) -> None:
    bearer = await desk.agent("Alice")
    assert (await bearer.get("/api/me")).status_code == 200
    assert desk.desk.store is not None
    await desk.desk.store.accounts.add("Alice", "a brand new password", replace=True)
    assert (await bearer.get("/api/me")).status_code == 401
