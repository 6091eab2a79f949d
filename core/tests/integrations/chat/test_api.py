"""Every Chat API operation and every refusal, over HTTP through the ASGI transport."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx
import jwt
import pytest
from pydantic import ValidationError

from patchwire.integrations.chat import ChatConfiguration
from patchwire.integrations.chat._errors import ApiError
from patchwire.integrations.chat._keys import user_id_from_key

from ...runtime.conftest import counting_statements
from ..conftest import ChatAgent, StartAgent


async def new_user(client: httpx.AsyncClient, **fields: Any) -> tuple[str, dict[str, str]]:
    response = await client.post("/users", json=fields)
    assert response.status_code == 200, response.text
    body = response.json()
    return body["user"]["id"], {"x-user-key": body["key"]}


async def new_conversation(client: httpx.AsyncClient, key: dict[str, str]) -> str:
    response = await client.post("/conversations", json={}, headers=key)
    assert response.status_code == 200, response.text
    conversation_id: str = response.json()["conversation"]["id"]
    return conversation_id


def assert_error(response: httpx.Response, status: int, type_: str, fragment: str) -> None:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["code"] == status
    assert body["type"] == type_
    assert body["id"].startswith("err_")
    assert fragment in body["message"]


async def test_connection_test_answers(client: httpx.AsyncClient) -> None:
    response = await client.get("/hello")
    assert response.status_code == 200
    assert response.json() == {}
    slashed = await client.get("/hello/", follow_redirects=True)
    assert (slashed.status_code, str(slashed.url)) == (200, "http://test/webhooks/chat/hello")


async def test_create_user_returns_a_key_for_its_id(client: httpx.AsyncClient) -> None:
    response = await client.post("/users", json={"name": "Ada", "pictureUrl": "https://x/a.png"})
    body = response.json()
    assert body["user"]["name"] == "Ada"
    assert body["user"]["pictureUrl"] == "https://x/a.png"
    assert body["user"]["createdAt"].endswith("Z")
    claims = jwt.decode(body["key"], options={"verify_signature": False})
    assert claims == {"id": body["user"]["id"]}


async def test_create_user_with_a_taken_id_conflicts(client: httpx.AsyncClient) -> None:
    await new_user(client, id="ada")
    assert_error(await client.post("/users", json={"id": "ada"}), 409, "AlreadyExists", "'ada'")


async def test_get_update_delete_user(client: httpx.AsyncClient) -> None:
    user_id, key = await new_user(client, name="Ada")
    assert (await client.get("/users/me", headers=key)).json()["user"]["id"] == user_id
    updated = await client.put("/users/me", json={"profile": "admin"}, headers=key)
    assert updated.json()["user"]["profile"] == "admin"
    assert updated.json()["user"]["name"] == "Ada"
    assert (await client.delete("/users/me", headers=key)).json() == {}
    assert_error(await client.get("/users/me", headers=key), 404, "ResourceNotFound", user_id)


async def test_manual_user_keys_signed_with_the_encryption_key(
    client: httpx.AsyncClient, encryption_key: str
) -> None:
    key = {"x-user-key": jwt.encode({"id": "crm-42"}, encryption_key, algorithm="HS256")}
    first = await client.post("/users/get-or-create", json={"name": "Grace"}, headers=key)
    assert first.json()["user"] == {**first.json()["user"], "id": "crm-42", "name": "Grace"}
    again = await client.post("/users/get-or-create", json={"name": "Other"}, headers=key)
    assert again.json()["user"]["name"] == "Grace"


async def test_a_key_with_a_time_limit_is_refused_once_it_expires(
    client: httpx.AsyncClient, encryption_key: str
) -> None:
    """Verified keys are remembered, but never one with ``exp``: it is checked every time."""
    expires = int(time.time()) + 2
    key = {"x-user-key": jwt.encode({"id": "temp-1", "exp": expires}, encryption_key, "HS256")}
    made = await client.post("/users/get-or-create", json={"name": "Temp"}, headers=key)
    assert made.status_code == 200, made.text
    assert (await client.get("/users/me", headers=key)).status_code == 200
    await asyncio.sleep(max(0.0, expires - time.time()) + 1.1)
    assert_error(await client.get("/users/me", headers=key), 401, "Unauthorized", "expired")


def test_a_remembered_key_is_still_checked_against_each_secret() -> None:
    key = jwt.encode({"id": "ada"}, "secret-one-0123456789abcdef0123456789", "HS256")
    assert user_id_from_key(key, ["secret-one-0123456789abcdef0123456789"]) == "ada"
    with pytest.raises(ApiError, match="not signed by this agent"):
        user_id_from_key(key, ["secret-two-0123456789abcdef0123456789"])
    assert user_id_from_key(key, ["secret-one-0123456789abcdef0123456789"]) == "ada"


@pytest.mark.parametrize(
    ("key", "fragment"),
    [
        (None, "missing header x-user-key"),
        ("not-a-jwt", "not a valid HS256 JWT"),
        (jwt.encode({"id": "x"}, "some-other-secret-0123456789abcdef", "HS256"), "not signed"),
        ("no-id-claim", 'no "id" claim'),
    ],
)
async def test_requests_without_a_valid_key_are_unauthorized(
    client: httpx.AsyncClient, encryption_key: str, key: str | None, fragment: str
) -> None:
    if key == "no-id-claim":
        key = jwt.encode({"sub": "x"}, encryption_key, "HS256")
    headers = {"x-user-key": key} if key else {}
    assert_error(await client.get("/users/me", headers=headers), 401, "Unauthorized", fragment)


async def test_conversations(client: httpx.AsyncClient) -> None:
    _, key = await new_user(client)
    created = await client.post("/conversations", json={"id": "support-1"}, headers=key)
    assert created.json()["conversation"]["id"] == "support-1"
    assert_error(
        await client.post("/conversations", json={"id": "support-1"}, headers=key),
        409,
        "AlreadyExists",
        "support-1",
    )
    got = await client.post("/conversations/get-or-create", json={"id": "support-1"}, headers=key)
    assert got.json() == created.json()
    fresh = await client.post("/conversations/get-or-create", json={"id": "other"}, headers=key)
    assert fresh.json()["conversation"]["id"] == "other"
    fetched = await client.get("/conversations/support-1", headers=key)
    assert fetched.json() == created.json()
    assert (await client.delete("/conversations/support-1", headers=key)).json() == {}
    assert_error(
        await client.get("/conversations/support-1", headers=key),
        404,
        "ResourceNotFound",
        "support-1",
    )


async def test_list_conversations_pages_through_the_users_own(
    client: httpx.AsyncClient,
) -> None:
    _, key = await new_user(client)
    _, stranger = await new_user(client)
    await new_conversation(client, stranger)
    mine = {await new_conversation(client, key) for _ in range(4)}
    first = (await client.get("/conversations", headers=key)).json()
    assert len(first["conversations"]) == 3
    token = first["meta"]["nextToken"]
    second = (await client.get("/conversations", params={"nextToken": token}, headers=key)).json()
    assert second["meta"] == {}
    assert {c["id"] for c in first["conversations"] + second["conversations"]} == mine


async def test_non_participants_are_forbidden(client: httpx.AsyncClient) -> None:
    _, owner = await new_user(client)
    _, stranger = await new_user(client)
    conversation_id = await new_conversation(client, owner)
    for response in (
        await client.get(f"/conversations/{conversation_id}", headers=stranger),
        await client.get(f"/conversations/{conversation_id}/messages", headers=stranger),
        await client.get(f"/conversations/{conversation_id}/listen", headers=stranger),
        await client.post(
            "/messages",
            json={"conversationId": conversation_id, "payload": {"type": "text", "text": "x"}},
            headers=stranger,
        ),
        await client.post(
            "/conversations/get-or-create", json={"id": conversation_id}, headers=stranger
        ),
    ):
        assert_error(response, 403, "Forbidden", "not a participant")


async def test_participants(client: httpx.AsyncClient) -> None:
    owner_id, owner = await new_user(client)
    guest_id, guest = await new_user(client, name="Guest")
    conversation_id = await new_conversation(client, owner)
    base = f"/conversations/{conversation_id}/participants"
    added = await client.post(base, json={"userId": guest_id}, headers=owner)
    assert added.json()["participant"]["name"] == "Guest"
    assert (await client.get(f"{base}/{guest_id}", headers=guest)).status_code == 200
    listed = (await client.get(base, headers=guest)).json()
    assert [p["id"] for p in listed["participants"]] == [owner_id, guest_id]
    assert (await client.delete(f"{base}/{guest_id}", headers=owner)).json() == {}
    assert_error(
        await client.get(f"{base}/{guest_id}", headers=owner), 404, "ResourceNotFound", guest_id
    )
    assert_error(
        await client.delete(f"{base}/{guest_id}", headers=owner), 404, "ResourceNotFound", guest_id
    )
    assert_error(
        await client.post(base, json={"userId": "nobody"}, headers=owner),
        404,
        "ResourceNotFound",
        "nobody",
    )


async def test_the_owner_cannot_be_removed_from_their_conversation(
    client: httpx.AsyncClient,
) -> None:
    owner_id, owner = await new_user(client)
    guest_id, guest = await new_user(client)
    conversation_id = await new_conversation(client, owner)
    base = f"/conversations/{conversation_id}/participants"
    await client.post(base, json={"userId": guest_id}, headers=owner)
    for key in (owner, guest):
        assert_error(
            await client.delete(f"{base}/{owner_id}", headers=key),
            400,
            "InvalidPayload",
            "delete the conversation instead",
        )
    listed = (await client.get(base, headers=owner)).json()
    assert [p["id"] for p in listed["participants"]] == [owner_id, guest_id]


BAD_IDS = ["invalid+plus", "has space", "slash/id", "x" * 101, ""]


@pytest.mark.parametrize("bad_id", BAD_IDS)
async def test_foreign_ids_are_validated_and_nothing_is_stored(
    client: httpx.AsyncClient, agent: ChatAgent, encryption_key: str, bad_id: str
) -> None:
    _, key = await new_user(client)
    users, conversations = await agent.count("users"), await agent.count("conversations")
    rule = "letters, digits, '-', '.', '_' and '~'"
    assert_error(await client.post("/users", json={"id": bad_id}), 400, "InvalidPayload", rule)
    manual = {"x-user-key": jwt.encode({"id": bad_id}, encryption_key, algorithm="HS256")}
    if bad_id:
        assert_error(
            await client.post("/users/get-or-create", json={}, headers=manual),
            400,
            "InvalidPayload",
            'the "id" claim of x-user-key',
        )
    for path in ("/conversations", "/conversations/get-or-create"):
        assert_error(
            await client.post(path, json={"id": bad_id}, headers=key), 400, "InvalidPayload", rule
        )
    assert await agent.count("users") == users
    assert await agent.count("conversations") == conversations


async def test_the_longest_and_widest_valid_ids_are_accepted(client: httpx.AsyncClient) -> None:
    for user_id in ("u" * 100, "A-z_0.9~"):
        created_id, key = await new_user(client, id=user_id)
        assert created_id == user_id
        conversation = await client.post("/conversations", json={"id": user_id}, headers=key)
        assert conversation.json()["conversation"]["id"] == user_id


PAYLOADS = [
    {"type": "text", "text": "hello"},
    {"type": "markdown", "markdown": "**hi**"},
    {"type": "image", "imageUrl": "https://x/i.png"},
    {"type": "audio", "audioUrl": "https://x/a.mp3"},
    {"type": "video", "videoUrl": "https://x/v.mp4"},
    {"type": "file", "fileUrl": "https://x/f.pdf", "title": "F"},
    {"type": "location", "latitude": 45.5, "longitude": -73.6, "address": "Montreal"},
    {
        "type": "card",
        "title": "T",
        "subtitle": "S",
        "imageUrl": "https://x/c.png",
        "actions": [{"action": "postback", "label": "Yes", "value": "yes"}],
    },
    {"type": "carousel", "items": [{"title": "A", "actions": []}, {"title": "B", "actions": []}]},
    {"type": "choice", "text": "Pick", "options": [{"label": "One", "value": "1"}]},
    {"type": "dropdown", "text": "Pick", "options": [{"label": "One", "value": "1"}]},
    {
        "type": "bloc",
        "items": [{"type": "text", "text": "a"}, {"type": "image", "imageUrl": "https://x/i.png"}],
    },
]


@pytest.mark.parametrize("payload", PAYLOADS, ids=[p["type"] for p in PAYLOADS])
async def test_every_payload_type_round_trips(
    client: httpx.AsyncClient, payload: dict[str, Any]
) -> None:
    user_id, key = await new_user(client)
    conversation_id = await new_conversation(client, key)
    body = {"conversationId": conversation_id, "payload": payload, "metadata": {"ref": 7}}
    created = (await client.post("/messages", json=body, headers=key)).json()["message"]
    assert created["payload"]["type"] == payload["type"]
    for field, value in payload.items():
        if field not in ("items", "actions"):
            assert created["payload"][field] == value
    assert created["metadata"] == {"ref": 7}
    assert "ref" not in created["payload"]
    assert created["userId"] == user_id
    assert "isBot" not in created, "operations answer messages without isBot (signals carry it)"
    fetched = await client.get(f"/messages/{created['id']}", headers=key)
    assert fetched.json()["message"] == created


async def test_bloc_items_stay_flat_on_the_wire(client: httpx.AsyncClient) -> None:
    _, key = await new_user(client)
    conversation_id = await new_conversation(client, key)
    items = [{"type": "text", "text": "a"}, {"type": "file", "fileUrl": "https://x/f"}]
    body = {"conversationId": conversation_id, "payload": {"type": "bloc", "items": items}}
    created = (await client.post("/messages", json=body, headers=key)).json()["message"]
    assert created["payload"] == {"type": "bloc", "items": items}


@pytest.mark.parametrize(
    ("payload", "fragment"),
    [
        ("hello", "payload must be an object"),
        ({"text": "no type"}, "payload.type is None"),
        ({"type": "sticker"}, "payload.type is 'sticker'"),
        ({"type": "text"}, "text: Field required"),
        ({"type": "text", "text": "x", "ref": 1}, "custom data belongs in the message's metadata"),
        ({"type": "bloc", "items": [{"type": "card", "title": "x"}]}, "items.0"),
        ({"type": "image", "imageUrl": ""}, "imageUrl"),
    ],
)
async def test_malformed_payloads_are_refused_and_nothing_is_stored(
    client: httpx.AsyncClient, agent: ChatAgent, payload: object, fragment: str
) -> None:
    _, key = await new_user(client)
    conversation_id = await new_conversation(client, key)
    body = {"conversationId": conversation_id, "payload": payload}
    response = await client.post("/messages", json=body, headers=key)
    assert_error(response, 400, "InvalidPayload", fragment)
    assert await agent.count("messages") == 0


async def test_bad_bodies_are_refused(client: httpx.AsyncClient, agent: ChatAgent) -> None:
    _, key = await new_user(client)
    headers = {**key, "content-type": "application/json"}
    assert_error(
        await client.post("/conversations", content=b"{not json", headers=headers),
        400,
        "InvalidPayload",
        "not valid JSON",
    )
    assert_error(
        await client.post("/conversations", content=b"[1]", headers=headers),
        400,
        "InvalidPayload",
        "must be a JSON object",
    )
    assert_error(
        await client.post("/conversations", json={"id": "a", "colour": "red"}, headers=key),
        400,
        "InvalidPayload",
        "colour: Extra inputs are not permitted",
    )
    assert_error(
        await client.post("/conversations", json={"id": "has space"}, headers=key),
        400,
        "InvalidPayload",
        "id: 'has space' is not a valid id",
    )
    assert await agent.count("conversations") == 0


async def test_oversized_bodies_are_refused(client: httpx.AsyncClient, agent: ChatAgent) -> None:
    _, key = await new_user(client)
    conversation_id = await new_conversation(client, key)
    body = {"conversationId": conversation_id, "payload": {"type": "text", "text": "x" * 200_000}}
    response = await client.post("/messages", json=body, headers=key)
    assert_error(response, 400, "InvalidPayload", "over the limit of 131072")
    assert await agent.count("messages") == 0


async def test_messages_on_an_unknown_conversation_are_not_found(
    client: httpx.AsyncClient,
) -> None:
    _, key = await new_user(client)
    body = {"conversationId": "nope", "payload": {"type": "text", "text": "x"}}
    assert_error(
        await client.post("/messages", json=body, headers=key), 404, "ResourceNotFound", "nope"
    )
    assert_error(
        await client.get("/conversations/nope/messages", headers=key),
        404,
        "ResourceNotFound",
        "nope",
    )
    assert_error(await client.get("/messages/nope", headers=key), 404, "ResourceNotFound", "nope")


async def test_list_messages_is_paginated_newest_first(client: httpx.AsyncClient) -> None:
    _, key = await new_user(client)
    conversation_id = await new_conversation(client, key)
    for n in range(5):
        body = {"conversationId": conversation_id, "payload": {"type": "text", "text": str(n)}}
        await client.post("/messages", json=body, headers=key)
    path = f"/conversations/{conversation_id}/messages"
    first = (await client.get(path, headers=key)).json()
    second = (
        await client.get(path, params={"nextToken": first["meta"]["nextToken"]}, headers=key)
    ).json()
    texts = [m["payload"]["text"] for m in first["messages"] + second["messages"]]
    assert texts == ["4", "3", "2", "1", "0"]
    assert second["meta"] == {}


async def test_delete_message_only_by_its_author(client: httpx.AsyncClient) -> None:
    owner_id, owner = await new_user(client)
    guest_id, guest = await new_user(client)
    conversation_id = await new_conversation(client, owner)
    await client.post(
        f"/conversations/{conversation_id}/participants", json={"userId": guest_id}, headers=owner
    )
    body = {"conversationId": conversation_id, "payload": {"type": "text", "text": "x"}}
    message_id = (await client.post("/messages", json=body, headers=owner)).json()["message"]["id"]
    assert_error(
        await client.delete(f"/messages/{message_id}", headers=guest), 403, "Forbidden", message_id
    )
    assert (await client.delete(f"/messages/{message_id}", headers=owner)).json() == {}
    assert_error(
        await client.get(f"/messages/{message_id}", headers=owner),
        404,
        "ResourceNotFound",
        message_id,
    )
    assert owner_id


async def test_events(client: httpx.AsyncClient) -> None:
    user_id, key = await new_user(client)
    conversation_id = await new_conversation(client, key)
    body = {"conversationId": conversation_id, "payload": {"typing": True}}
    created = (await client.post("/events", json=body, headers=key)).json()["event"]
    assert created["payload"] == {"typing": True}
    assert created["userId"] == user_id
    fetched = await client.get(f"/events/{created['id']}", headers=key)
    assert fetched.json()["event"] == created
    assert_error(await client.get("/events/nope", headers=key), 404, "ResourceNotFound", "nope")
    assert_error(
        await client.post("/events", json={"conversationId": conversation_id}, headers=key),
        400,
        "InvalidPayload",
        "payload: Field required",
    )


async def test_unknown_paths_and_methods(client: httpx.AsyncClient) -> None:
    assert_error(await client.get("/widgets"), 404, "ResourceNotFound", "/widgets")
    assert_error(await client.patch("/users/me"), 405, "MethodNotFound", "PATCH")


def preflight_headers(origin: str) -> dict[str, str]:
    return {
        "origin": origin,
        "access-control-request-method": "POST",
        "access-control-request-headers": "content-type,x-user-key",
    }


async def test_by_default_no_foreign_origin_gets_a_cors_grant(client: httpx.AsyncClient) -> None:
    preflight = await client.options("/users", headers=preflight_headers("https://evil.example"))
    assert preflight.status_code == 400
    assert "access-control-allow-origin" not in preflight.headers
    simple = await client.get("/hello", headers={"origin": "https://evil.example"})
    assert simple.status_code == 200
    assert "access-control-allow-origin" not in simple.headers


async def test_allowed_origins_get_a_grant_and_others_do_not(start_agent: StartAgent) -> None:
    agent = await start_agent(allowedOrigins=["https://Shop.example:8443"])
    transport = httpx.ASGITransport(app=agent.app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test/webhooks/chat") as http:
        allowed = "https://shop.example:8443"
        preflight = await http.options("/users", headers=preflight_headers(allowed))
        assert preflight.status_code == 200
        assert preflight.headers["access-control-allow-origin"] == allowed
        assert "x-user-key" in preflight.headers["access-control-allow-headers"]
        assert "access-control-allow-credentials" not in preflight.headers
        created = await http.post("/users", json={}, headers={"origin": allowed})
        assert created.headers["access-control-allow-origin"] == allowed
        refused = await http.get("/users/me", headers={"origin": allowed})
        assert refused.status_code == 401, "errors carry the grant too, so pages can read them"
        assert refused.headers["access-control-allow-origin"] == allowed
        for other in ("https://shop.example", "http://shop.example:8443", "https://evil.example"):
            denied = await http.options("/users", headers=preflight_headers(other))
            assert denied.status_code == 400
            assert "access-control-allow-origin" not in denied.headers


@pytest.mark.parametrize(
    "origin", ["https://shop.example/", "shop.example", "https://shop.example/path", "*", ""]
)
def test_allowed_origins_must_be_bare_origins(origin: str) -> None:
    with pytest.raises(ValidationError, match="is not an origin: write scheme://host"):
        ChatConfiguration.model_validate({"allowedOrigins": [origin]})


async def test_the_configured_body_limit_is_the_one_that_answers(start_agent: StartAgent) -> None:
    agent = await start_agent(maxRequestBytes=2 * 1024 * 1024)
    transport = httpx.ASGITransport(app=agent.app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test/webhooks/chat") as http:
        _, key = await new_user(http)
        conversation_id = await new_conversation(http, key)
        for size, status in ((1_500_000, 200), (3_000_000, 400)):
            body = {"conversationId": conversation_id, "payload": {"blob": "x" * size}}
            response = await http.post("/events", json=body, headers=key)
            assert response.status_code == status, response.text[:200]
        assert "over the limit of 2097152" in response.json()["message"]


@pytest.mark.parametrize("poster", ["owner", "participant"])
async def test_posting_a_message_finds_sender_conversation_and_membership_in_one_read(
    client: httpx.AsyncClient, poster: str
) -> None:
    """The sender, the conversation and whether the sender takes part are one statement for
    the owner and for anyone who joined, without the profile (a read only ``GET /users/me``
    needs) and without any state."""
    _, owner = await new_user(client, name="Ada", profile="admin")
    guest_id, guest = await new_user(client, name="Grace")
    conversation = await new_conversation(client, owner)
    joined = await client.post(
        f"/conversations/{conversation}/participants", json={"userId": guest_id}, headers=owner
    )
    assert joined.status_code == 200, joined.text
    key = owner if poster == "owner" else guest
    body = {"conversationId": conversation, "payload": {"type": "text", "text": "hi"}}
    assert (await client.post("/messages", json=body, headers=key)).status_code == 200
    with counting_statements() as statements:
        response = await client.post("/messages", json=body, headers=key)
    assert response.status_code == 200, response.text
    reads = [sql for sql in statements if sql.lstrip().upper().startswith("SELECT")]
    assert len(reads) == 1, reads
    assert "participants" in reads[0]
    assert not [sql for sql in statements if "states" in sql], "a state was read"


async def test_who_left_or_was_deleted_is_refused_with_the_reason(
    client: httpx.AsyncClient,
) -> None:
    _, owner = await new_user(client)
    guest_id, guest = await new_user(client)
    conversation = await new_conversation(client, owner)
    participants = f"/conversations/{conversation}/participants"
    await client.post(participants, json={"userId": guest_id}, headers=owner)
    body = {"conversationId": conversation, "payload": {"type": "text", "text": "hi"}}
    assert (await client.post("/messages", json=body, headers=guest)).status_code == 200
    assert (await client.delete(f"{participants}/{guest_id}", headers=owner)).status_code == 200
    assert_error(
        await client.post("/messages", json=body, headers=guest), 403, "Forbidden", guest_id
    )
    assert (await client.delete("/users/me", headers=guest)).status_code == 200
    assert_error(
        await client.get(f"/conversations/{conversation}", headers=guest),
        404,
        "ResourceNotFound",
        guest_id,
    )
    assert (await client.delete(f"/conversations/{conversation}", headers=owner)).status_code == 200
    assert_error(
        await client.post("/messages", json=body, headers=owner),
        404,
        "ResourceNotFound",
        conversation,
    )


async def test_parallel_joins_keep_every_participant_once(client: httpx.AsyncClient) -> None:
    owner_id, owner = await new_user(client)
    conversation = await new_conversation(client, owner)
    base = f"/conversations/{conversation}/participants"
    guests = [(await new_user(client))[0] for _ in range(8)]
    joins = [
        client.post(base, json={"userId": guest}, headers=owner)
        for guest in guests
        for _ in range(3)
    ]
    assert {response.status_code for response in await asyncio.gather(*joins)} == {200}
    listed: list[dict[str, Any]] = []
    token = None
    while token != "":
        params = {"nextToken": token} if token else {}
        page = (await client.get(base, params=params, headers=owner)).json()
        listed += page["participants"]
        token = page["meta"].get("nextToken", "")
    assert sorted(p["id"] for p in listed) == sorted([owner_id, *guests])
    assert listed[0]["id"] == owner_id
