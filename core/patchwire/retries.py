"""Retrying calls to outside systems: wait as long as they ask, else back off exponentially.

Integrations raise :class:`RetryableError` from one attempt when the system may take the call
later (429, a gateway error, no connection), with the delay its headers asked for::

    async for attempt in retrying(attempts=4, max_wait=10):
        with attempt:
            ...  # raise RetryableError("answered 503", delay=retry_after(response.headers))

Anything else fails at once. When the attempts run out, the last ``RetryableError`` is raised.

The runtime asks :func:`transient` of what a sender raised: an outside system that is down or
throttling (a ``RetryableError``, an ``httpx`` transport error, a ``ConnectionError`` or a
``TimeoutError`` anywhere in the exception's chain, or an HTTP 429/5xx status error) makes it
queue the message and try again later, for hours; anything else is a failure of the message
itself.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping

import httpx
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception_type,
    stop_after_attempt,
    wait_exponential,
)

__all__ = ["RetryableError", "retry_after", "retrying", "transient"]


class RetryableError(Exception):
    """One attempt failed in a way worth repeating; ``delay`` is what the system asked for."""

    def __init__(
        self, message: str, *, delay: float | None = None, status: int | None = None
    ) -> None:
        super().__init__(message)
        self.delay = delay
        self.status = status


def retry_after(headers: Mapping[str, str], *, now: float | None = None) -> float | None:
    """Seconds to wait, from ``retry-after-ms``, ``Retry-After`` (seconds), or else
    ``X-RateLimit-Reset`` (the Unix second the window reopens); None when they say nothing."""
    lowered = {key.lower(): value for key, value in headers.items()}
    for key, scale in (("retry-after-ms", 0.001), ("retry-after", 1.0)):
        try:
            return max(0.0, float(lowered[key]) * scale)
        except (KeyError, ValueError):
            continue
    try:
        reset = float(lowered["x-ratelimit-reset"])
    except (KeyError, ValueError):
        return None
    return max(0.0, reset - (time.time() if now is None else now))


def retrying(
    *, attempts: int, max_wait: float, min_wait: float = 0.0, base: float = 0.25
) -> AsyncRetrying:
    """Up to ``attempts`` tries of what raises :class:`RetryableError`.

    Between tries it waits the error's ``delay`` (kept within ``min_wait`` and ``max_wait``:
    a reset time already past must not burn every attempt at once), else ``base`` seconds
    doubling each time, at most ``max_wait``.
    """
    backoff = wait_exponential(multiplier=base, max=max_wait)

    def wait(state: RetryCallState) -> float:
        error = state.outcome.exception() if state.outcome else None
        if isinstance(error, RetryableError) and error.delay is not None:
            return min(max(error.delay, min_wait), max_wait)
        return float(backoff(state))

    return AsyncRetrying(
        stop=stop_after_attempt(attempts),
        wait=wait,
        reraise=True,
        retry=retry_if_exception_type(RetryableError),
    )


def _chain(error: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def transient(error: BaseException) -> RetryableError | None:
    """The reason to try ``error``'s call again later, or None when retrying cannot help.

    It looks through the whole chain (``raise ServiceError(...) from None`` keeps the cause as
    context), so an integration may wrap what failed in its own error type.
    """
    for link in _chain(error):
        if isinstance(link, RetryableError):
            return link
        if isinstance(link, httpx.TransportError | ConnectionError | TimeoutError):
            return RetryableError(f"unreachable ({type(link).__name__}: {link})")
        if isinstance(link, httpx.HTTPStatusError):
            status = link.response.status_code
            if status == 429 or status >= 500:
                delay = retry_after(link.response.headers)
                return RetryableError(f"answered {status}", delay=delay, status=status)
    return None
