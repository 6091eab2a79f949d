"""The core webhook verifier: strict headers, constant-time MACs, replays keyed on what was
signed, kept wherever the caller keeps them."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from pydantic import BaseModel

from patchwire.store import Store
from patchwire.webhooks import (
    KEY_LENGTH,
    PATCHWIRE_SIGNATURE,
    TAG_VALUE_LENGTH,
    BodyError,
    Key,
    ReplayError,
    SignatureError,
    TagValue,
    WebhookVerifier,
    parse_body,
)

SECRET = "a-secret-of-sixteen-or-more"
BODY = b'{"remoteConversationId":"rc-1"}'
NOW = 1_800_000_000
HEADER = PATCHWIRE_SIGNATURE.header


class Seen:
    """A "first time?" callable over a set, as code without a ``Context`` provides one."""

    def __init__(self) -> None:
        self.keys: set[str] = set()
        self.windows: set[timedelta | None] = set()

    async def __call__(self, key: str, *, forget_after: timedelta | None = None) -> bool:
        self.windows.add(forget_after)
        if key in self.keys:
            return False
        self.keys.add(key)
        return True


def spellings(header: str) -> list[str]:
    t, v1 = (part.split("=", 1)[1] for part in header.split(","))
    return [
        header,
        f"t=0{t},v1={v1}",
        f"t=+{t},v1={v1}",
        f"v1={v1},t={t}",
        f"t={t},v1={v1},",
        f"t={t},v1={v1},x=1",
        f"t={t}, v1={v1}",
        f"t={t},t={t},v1={v1}",
        f"t={t},v1={v1.upper()}",
        f"t={t} ,v1={v1}",
        f"t={t};v1={v1}",
        f"T={t},V1={v1}",
        f"t={t},v1={v1}0",
        f"t=-{t},v1={v1}",
        f"t={t}.0,v1={v1}",
    ]


async def test_every_spelling_of_one_signature_is_accepted_exactly_once() -> None:
    seen = Seen()
    verifier = WebhookVerifier(PATCHWIRE_SIGNATURE, SECRET, remember=seen)
    header = PATCHWIRE_SIGNATURE.sign(SECRET, BODY, timestamp=NOW)
    accepted, refused = 0, []
    for spelling in spellings(header) * 2:
        try:
            await verifier.verify({HEADER: spelling}, BODY, now=NOW)
        except SignatureError as error:
            refused.append(error)
        else:
            accepted += 1
    assert accepted == 1
    assert len(refused) == 2 * len(spellings(header)) - 1
    assert sum(isinstance(error, ReplayError) for error in refused) == 3  # reordered, and twice
    assert seen.windows == {timedelta(minutes=10)}, "kept for twice the window"


async def verify_in_a_fresh_process(url: str, header: dict[str, str]) -> None:
    """What one process does: open the database, check a request, close."""
    store = await Store.open(url)

    async def remember(key: str, *, forget_after: timedelta | None = None) -> bool:
        return await store.remember("desk", key)

    try:
        await WebhookVerifier(PATCHWIRE_SIGNATURE, SECRET, remember=remember).verify(
            header, BODY, now=NOW
        )
    finally:
        await store.close()


async def test_a_replay_is_refused_after_a_restart_through_a_store(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'desk.db'}"
    header = {HEADER: PATCHWIRE_SIGNATURE.sign(SECRET, BODY, timestamp=NOW)}
    await verify_in_a_fresh_process(url, header)
    with pytest.raises(ReplayError, match="used already"):
        await verify_in_a_fresh_process(url, header)


@pytest.mark.parametrize(
    ("header", "now", "reason"),
    [
        (None, NOW, "missing X-Patchwire-Signature header"),
        ("t=1,v1=", NOW, "v1='' is not a valid value"),
        ("v1=" + "0" * 64, NOW, "no 't'"),
        (PATCHWIRE_SIGNATURE.sign(SECRET, BODY, timestamp=NOW), NOW + 301, "301 s away from now"),
        (PATCHWIRE_SIGNATURE.sign(SECRET, BODY, timestamp=NOW), NOW - 301, "-301 s away"),
        (PATCHWIRE_SIGNATURE.sign("another-secret-entirely", BODY, timestamp=NOW), NOW, "does not"),
        (f"t={NOW},v1=" + "0" * 64, NOW, "does not match the body and the shared secret"),
    ],
)
def test_refusals_say_why(header: str | None, now: int, reason: str) -> None:
    verifier = WebhookVerifier(PATCHWIRE_SIGNATURE, SECRET)
    with pytest.raises(SignatureError, match=reason):
        verifier.check({HEADER: header} if header else {}, BODY, now=now)


def test_a_secret_is_required() -> None:
    with pytest.raises(ValueError, match="non-empty secret"):
        WebhookVerifier(PATCHWIRE_SIGNATURE, "")


def test_bodies_and_ids_are_checked_against_what_the_store_keeps() -> None:
    class Body(BaseModel):
        key: Key
        tag: TagValue

    assert (KEY_LENGTH, TAG_VALUE_LENGTH) == (300, 500)
    parse_body(Body, {"key": "k" * 300, "tag": "t" * 500})
    with pytest.raises(BodyError, match="key: String should have at most 300 characters"):
        parse_body(Body, {"key": "k" * 301, "tag": "t"})
    with pytest.raises(BodyError, match="tag: String should have at most 500 characters"):
        parse_body(Body, b'{"key": "k", "tag": "' + b"t" * 501 + b'"}')
    with pytest.raises(BodyError, match=r"malformed body: .*Invalid JSON") as raised:
        parse_body(Body, b"{")
    assert raised.value.response().status_code == 400
