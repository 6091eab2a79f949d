"""What the desk remembers across restarts: signatures it accepted, answers by Idempotency-Key,
failed logins.

Each test runs on a SQLite file and on a fresh PostgreSQL database, restarts the desk where it
matters, and counts what was stored: nothing twice, nothing lost.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time

import httpx
import pytest

from patchwire_generic_hitl import HEADER, ServiceClient, sign
from patchwire_generic_hitl.desk import DeskSettings, DeskStore
from patchwire_generic_hitl.desk import _accounts as accounts_module
from patchwire_generic_hitl.desk import _memory as memory_module

from ..conftest import SECRET
from .conftest import PASSWORD, FakeAgent, RunningDesk, handed_off, start_desk

CREATE_USER = b'{"type":"createRemoteUser","payload":{"role":"end-user","name":"Ada"}}'
_stamps = itertools.count(int(time.time()), -1)
"""Each new signature is dated a second earlier, so no two are the same (the real client never
signs one body twice in a second either)."""


@pytest.fixture
def desk_settings(settings_on_both_databases: DeskSettings) -> DeskSettings:
    return settings_on_both_databases


async def people(settings: DeskSettings) -> int:
    store = await DeskStore.open(settings.database)
    try:
        async with store.engine.connect() as connection:
            result = await connection.exec_driver_sql("SELECT count(*) FROM people")
            return int(result.scalar_one())
    finally:
        await store.close()


async def post(
    desk: RunningDesk, body: bytes, *, key: str | None = None, signature: str | None = None
) -> httpx.Response:
    fresh = sign(SECRET, body, timestamp=next(_stamps))
    headers = {HEADER: signature or fresh, "content-type": "application/json"}
    if key is not None:
        headers["Idempotency-Key"] = key
    return await desk.api.post("/createRemoteUser", content=body, headers=headers)


async def test_an_exact_replay_after_a_restart_is_refused(desk_settings: DeskSettings) -> None:
    signature = sign(SECRET, CREATE_USER)
    desk = await start_desk(desk_settings)
    try:
        assert (await post(desk, CREATE_USER, signature=signature)).status_code == 200
    finally:
        await desk.stop()
    restarted = await start_desk(desk_settings)
    try:
        replay = await post(restarted, CREATE_USER, signature=signature)
    finally:
        await restarted.stop()
    assert (replay.status_code, replay.json()["error"]) == (
        401,
        "this signature was used already (a replayed request)",
    )
    assert await people(desk_settings) == 1


async def test_a_repeated_idempotency_key_answers_the_first_answer_across_a_restart(
    desk_settings: DeskSettings,
) -> None:
    """Each repeat is signed anew (as a retrying client does), so only the key can tell."""
    desk = await start_desk(desk_settings)
    try:
        first = await post(desk, CREATE_USER, key="create-ada-1")
        repeats = [await post(desk, CREATE_USER, key="create-ada-1") for _ in range(4)]
    finally:
        await desk.stop()
    restarted = await start_desk(desk_settings)
    try:
        repeats.append(await post(restarted, CREATE_USER, key="create-ada-1"))
        other = await post(restarted, CREATE_USER, key="create-ada-2")
    finally:
        await restarted.stop()
    assert first.status_code == 200 and "idempotent-replayed" not in first.headers
    assert [(r.status_code, r.json(), r.headers["idempotent-replayed"]) for r in repeats] == [
        (200, first.json(), "true")
    ] * 5
    assert other.json()["id"] != first.json()["id"]
    assert await people(desk_settings) == 2


async def test_concurrent_calls_with_one_key_run_once(desk_settings: DeskSettings) -> None:
    desk = await start_desk(desk_settings)
    try:
        answers = await asyncio.gather(
            *(post(desk, CREATE_USER, key="together") for _ in range(12))
        )
        settled = await post(desk, CREATE_USER, key="together")
    finally:
        await desk.stop()
    statuses = sorted(answer.status_code for answer in answers)
    ran = [a for a in answers if a.status_code == 200 and "idempotent-replayed" not in a.headers]
    assert len(ran) == 1, [a.text for a in answers]
    assert set(statuses) <= {200, 409}
    for answer in answers:
        if answer.status_code == 409:
            assert answer.headers["retry-after"] == "1"
            assert "still running" in answer.json()["error"]
        else:
            assert answer.json() == ran[0].json()
    assert settled.json() == ran[0].json()
    assert await people(desk_settings) == 1


async def test_a_key_reused_for_another_body_or_too_long_is_refused(
    desk_settings: DeskSettings,
) -> None:
    desk = await start_desk(desk_settings)
    try:
        assert (await post(desk, CREATE_USER, key="k")).status_code == 200
        other_body = CREATE_USER.replace(b"Ada", b"Eve")
        reused = await post(desk, other_body, key="k")
        too_long = await post(desk, other_body, key="k" * 201)
    finally:
        await desk.stop()
    assert (reused.status_code, reused.json()["error"]) == (
        422,
        "this Idempotency-Key was used for another request: use a new key",
    )
    assert (too_long.status_code, too_long.json()["error"]) == (
        400,
        "Idempotency-Key must be 1 to 200 printable characters",
    )
    assert await people(desk_settings) == 1


async def test_keys_are_forgotten_after_a_day(
    desk_settings: DeskSettings, monkeypatch: pytest.MonkeyPatch
) -> None:
    desk = await start_desk(desk_settings)
    try:
        first = await post(desk, CREATE_USER, key="daily")
        later = memory_module.time.time() + memory_module.IDEMPOTENCY_SECONDS + 60
        monkeypatch.setattr(memory_module.time, "time", lambda: later)
        next_day = await post(
            desk,
            CREATE_USER,
            key="daily",
            signature=sign(SECRET, CREATE_USER, timestamp=int(later)),
        )
    finally:
        await desk.stop()
    assert "idempotent-replayed" not in next_day.headers
    assert json.loads(next_day.text)["id"] != first.json()["id"]
    assert await people(desk_settings) == 2


async def test_an_agent_repeating_a_reply_by_its_key_sends_it_once(
    desk: RunningDesk, patchwire: ServiceClient, agent: FakeAgent
) -> None:
    remote = await handed_off(patchwire)
    assert (await desk.act(remote, "claim", agent="Alice")).status_code == 200
    alice, bob = await desk.agent("Alice"), await desk.agent("Bob")
    reply = f"/api/conversations/{remote}/messages"
    body = {"type": "text", "text": "Sent once"}
    headers = {"Idempotency-Key": "reply-1"}
    answers = [await alice.post(reply, json=body, headers=headers) for _ in range(3)]
    assert [a.status_code for a in answers] == [200, 200, 200]
    assert len({a.json()["id"] for a in answers}) == 1
    not_hers = await bob.post(reply, json=body, headers=headers)
    assert not_hers.status_code == 403, "another agent's key is not a way into Alice's answer"

    agent.down = True
    failed = [
        await alice.post(reply, json={**body, "text": "kept"}, headers={"Idempotency-Key": "r2"})
        for _ in range(2)
    ]
    agent.down = False
    assert [a.status_code for a in failed] == [502, 502]
    assert failed[1].headers["idempotent-replayed"] == "true"
    texts = [
        m["payload"]["text"]
        for m in (await desk.conversation(remote))["messages"]
        if m["authorKind"] == "agent"
    ]
    assert texts == ["Sent once", "kept"], "one stored copy each; 'kept' waits for Send again"
    delivered = [b["payload"]["text"] for p, b in agent.calls if p == "message-from-agent"]
    assert delivered == ["Sent once"]


async def test_a_name_guessed_too_often_waits_out_the_window(
    desk: RunningDesk, monkeypatch: pytest.MonkeyPatch
) -> None:
    await desk.add_agent("Alice")

    async def login(password: str) -> httpx.Response:
        return await desk.api.post("/api/login", json={"name": "ALICE", "password": password})

    parallel = await asyncio.gather(*(login(f"guess number {n}") for n in range(12)))
    assert {answer.status_code for answer in parallel} <= {401, 429}
    assert sum(answer.status_code == 401 for answer in parallel) >= accounts_module.MAX_FAILURES
    refused = await login(PASSWORD)
    assert refused.status_code == 429, "the right password too, until the window ends"
    assert "too many failed logins for this name" in refused.json()["error"]
    assert 0 < int(refused.headers["retry-after"]) <= accounts_module.FAILURE_WINDOW_SECONDS
    other = await desk.api.post("/api/tokens", json={"name": "Bob", "password": "whatever it is"})
    assert other.status_code == 401, "other names are not held up"

    later = time.time() + accounts_module.FAILURE_WINDOW_SECONDS + 1
    monkeypatch.setattr(accounts_module.time, "time", lambda: later)
    assert (await login(PASSWORD)).status_code == 200
    for _ in range(accounts_module.MAX_FAILURES):
        assert (await login("wrong again")).status_code == 401, "a success forgets failures"
    assert (await login(PASSWORD)).status_code == 429
