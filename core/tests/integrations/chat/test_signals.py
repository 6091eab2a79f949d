"""The in-process fan-out: delivery, keep-alives, slow listeners, clean-up."""

from __future__ import annotations

import json

from patchwire.integrations.chat._signals import KEEPALIVE, Broadcaster


async def next_frame(frames: object) -> str:
    frame: str = await frames.__anext__()  # type: ignore[attr-defined]
    return frame


async def test_signals_reach_every_listener_of_their_conversation_only() -> None:
    broadcaster = Broadcaster(queue_size=10)
    first, second = broadcaster.open("c1", "u1"), broadcaster.open("c1", "u1")
    other = broadcaster.open("c2", "u1")
    broadcaster.publish("c1", "message_created", {"id": "m1"})
    for listener in (first, second):
        frame = await next_frame(listener.frames(keepalive_seconds=5))
        assert frame.startswith("data: ") and frame.endswith("\n\n")
        assert json.loads(frame[6:]) == {"type": "message_created", "data": {"id": "m1"}}
    assert await next_frame(other.frames(keepalive_seconds=0.05)) == KEEPALIVE


async def test_a_quiet_stream_gets_keepalives() -> None:
    broadcaster = Broadcaster(queue_size=10)
    frames = broadcaster.open("c1", "u1").frames(keepalive_seconds=0.01)
    assert [await next_frame(frames) for _ in range(2)] == [KEEPALIVE, KEEPALIVE]


async def test_a_listener_that_falls_behind_is_ended_and_dropped() -> None:
    broadcaster = Broadcaster(queue_size=3)
    slow = broadcaster.open("c1", "u1")
    for n in range(4):
        broadcaster.publish("c1", "message_created", {"id": n})
    assert [frame async for frame in slow.frames(keepalive_seconds=5)] == []
    assert broadcaster.listener_count("c1") == 0


async def test_closing_the_last_listener_forgets_the_conversation() -> None:
    broadcaster = Broadcaster(queue_size=3)
    listener = broadcaster.open("c1", "u1")
    broadcaster.close("c1", listener)
    broadcaster.close("c1", listener)
    assert broadcaster.listener_count("c1") == 0
    broadcaster.publish("c1", "message_created", {})


async def test_disconnecting_a_user_ends_only_their_streams_after_what_was_queued() -> None:
    broadcaster = Broadcaster(queue_size=10)
    leaving_1, leaving_2 = broadcaster.open("c1", "gone"), broadcaster.open("c1", "gone")
    staying = broadcaster.open("c1", "kept")
    elsewhere = broadcaster.open("c2", "gone")
    broadcaster.publish("c1", "message_created", {"id": "before"})
    assert broadcaster.disconnect("c1", "gone") == 2
    broadcaster.publish("c1", "message_created", {"id": "after"})
    for leaving in (leaving_1, leaving_2):
        frames = [json.loads(f[6:]) async for f in leaving.frames(keepalive_seconds=5)]
        assert [f["data"]["id"] for f in frames] == ["before"]
    kept = staying.frames(keepalive_seconds=5)
    assert [json.loads((await next_frame(kept))[6:])["data"]["id"] for _ in range(2)] == [
        "before",
        "after",
    ]
    assert broadcaster.listener_count("c1") == 1
    assert broadcaster.listener_count("c2") == 1
    assert broadcaster.disconnect("c2", "nobody") == 0
    assert await next_frame(elsewhere.frames(keepalive_seconds=0.01)) == KEEPALIVE


async def test_disconnecting_a_full_listener_still_ends_it() -> None:
    broadcaster = Broadcaster(queue_size=2)
    listener = broadcaster.open("c1", "u1")
    broadcaster.publish("c1", "message_created", {"id": 1})
    broadcaster.publish("c1", "message_created", {"id": 2})
    broadcaster.disconnect("c1", "u1")
    frames = [json.loads(f[6:]) async for f in listener.frames(keepalive_seconds=5)]
    assert [f["data"]["id"] for f in frames] == [1, 2]


async def test_shutdown_ends_every_stream_after_what_was_queued_and_any_opened_later() -> None:
    broadcaster = Broadcaster(queue_size=10)
    streams = [broadcaster.open(f"c{n % 3}", f"u{n}") for n in range(7)]
    broadcaster.publish("c0", "message_created", {"id": "before"})
    broadcaster.end_all()
    broadcaster.publish("c0", "message_created", {"id": "after"})
    late = broadcaster.open("c0", "late")
    ended = [
        [json.loads(f[6:])["data"]["id"] async for f in stream.frames(keepalive_seconds=5)]
        for stream in [*streams, late]
    ]
    assert ended == [["before"], [], [], ["before"], [], [], ["before"], []]
    assert [broadcaster.listener_count(f"c{n}") for n in range(3)] == [0, 0, 0]


def _decoded(listener: object) -> list[object]:
    queued = listener._queue  # type: ignore[attr-defined]
    return [json.loads(frame[6:])["data"]["id"] for frame in list(queued._queue) if frame]


async def test_a_catch_up_comes_first_and_nothing_twice() -> None:
    """Signals stored before the stream opened come first, oldest first; one the stream got
    live before the catch-up ran is not caught up again, and one caught up is not sent again
    when its live signal comes after."""
    broadcaster = Broadcaster(queue_size=10)
    listener = broadcaster.open("c1", "u1")
    broadcaster.publish("c1", "message_created", {"id": "m2"})  # live, before the catch-up
    listener.catch_up([("message_created", {"id": "m1"}), ("message_created", {"id": "m2"})])
    broadcaster.publish("c1", "message_created", {"id": "m1"})  # the caught-up one, live
    broadcaster.publish("c1", "message_created", {"id": "m3"})
    broadcaster.publish("c1", "message_deleted", {"id": "m1"})  # another signal of m1
    assert _decoded(listener) == ["m1", "m2", "m3", "m1"]


async def test_a_catch_up_never_overflows_the_queue() -> None:
    broadcaster = Broadcaster(queue_size=3)
    listener = broadcaster.open("c1", "u1")
    broadcaster.publish("c1", "message_created", {"id": "live"})
    listener.catch_up([("message_created", {"id": f"m{n}"}) for n in range(5)])
    assert _decoded(listener) == ["m3", "m4", "live"]
