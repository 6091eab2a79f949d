from __future__ import annotations

import time

import pytest

from patchwire.retries import RetryableError, retry_after, retrying


def test_retry_after_reads_the_headers_providers_send() -> None:
    assert retry_after({"retry-after-ms": "250"}) == 0.25
    assert retry_after({"Retry-After": "3"}) == 3.0
    assert retry_after({"Retry-After": "-2"}) == 0.0
    assert retry_after({"X-RateLimit-Reset": "1000"}, now=996.5) == 3.5
    assert retry_after({"X-RateLimit-Reset": "1000"}, now=1005) == 0.0
    assert retry_after({"Retry-After": "Wed, 21 Oct 2026 07:28:00 GMT"}) is None
    assert retry_after({}) is None


async def test_it_waits_what_was_asked_then_gives_up_with_the_last_error() -> None:
    calls: list[float] = []

    async def flaky() -> str:
        calls.append(time.monotonic())
        if len(calls) < 3:
            raise RetryableError("answered 429", delay=0.2)
        return "ok"

    assert await retrying(attempts=3, max_wait=1)(flaky) == "ok"
    assert calls[1] - calls[0] >= 0.19 and calls[2] - calls[1] >= 0.19

    async def down() -> None:
        raise RetryableError("answered 503", delay=60, status=503)

    started = time.monotonic()
    with pytest.raises(RetryableError, match="503") as raised:
        await retrying(attempts=2, max_wait=0.1)(down)
    assert raised.value.status == 503
    assert time.monotonic() - started < 1, "the delay is capped by max_wait"


async def test_other_errors_are_not_retried() -> None:
    calls = 0

    async def refused() -> None:
        nonlocal calls
        calls += 1
        raise ValueError("400: bad request")

    with pytest.raises(ValueError):
        await retrying(attempts=4, max_wait=1)(refused)
    assert calls == 1
