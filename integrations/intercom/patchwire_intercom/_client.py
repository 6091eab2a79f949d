"""Calls to Intercom's REST API: pinned version, rate-limit aware retries, clear failures.

Intercom has no idempotency keys, so a POST is retried only when Intercom cannot have acted on
it (429, a gateway error, a connection never made); GET and PUT are retried on any 5xx.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import httpx

from patchwire import PatchwireError
from patchwire.retries import RetryableError, retry_after, retrying
from patchwire_intercom._definition import IntercomConfiguration

__all__ = [
    "ATTEMPTS",
    "IntercomAuthError",
    "IntercomClient",
    "IntercomError",
    "IntercomNotFoundError",
]

ATTEMPTS = 4
MAX_WAIT_SECONDS = 10.5
"""Intercom counts calls in 10-second windows: a longer wait never helps."""
MIN_WAIT_SECONDS = 0.2
"""A reset time already past (clocks differ) must not burn every attempt at once."""

_SAFE_POST_STATUSES = {429, 502, 503, 504}
_IDEMPOTENT = {"GET", "PUT", "DELETE", "HEAD"}


class IntercomError(PatchwireError):
    """Intercom refused a call, or kept failing; ``status`` and ``code`` say how."""

    def __init__(self, message: str, *, status: int | None = None, code: str | None = None):
        super().__init__(message)
        self.status = status
        self.code = code


class IntercomAuthError(IntercomError):
    """The access token is wrong, revoked, or lacks a permission."""


class IntercomNotFoundError(IntercomError):
    """The object is gone (a conversation deleted in the inbox, a merged contact)."""


def _detail(response: httpx.Response) -> tuple[str, str | None]:
    """Intercom's own words from an ``error.list`` body, and its first error code."""
    try:
        body = response.json()
        first = body["errors"][0]
        return str(first.get("message") or first.get("code")), first.get("code")
    except (ValueError, KeyError, IndexError, TypeError, AttributeError):
        return response.text[:300] or response.reason_phrase, None


class IntercomClient:
    """One workspace's API, for one integration alias (``label`` names it in errors)."""

    def __init__(
        self,
        configuration: IntercomConfiguration,
        *,
        label: str = "intercom",
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.configuration = configuration
        self.label = label
        self._bot_admin_id = configuration.bot_admin_id
        self._http = httpx.AsyncClient(
            base_url=configuration.api_url,
            timeout=15,
            transport=transport,
            headers={
                "Authorization": f"Bearer {configuration.access_token}",
                "Intercom-Version": configuration.intercom_version,
                "Accept": "application/json",
            },
        )

    async def get(self, path: str, params: Mapping[str, str] | None = None) -> dict[str, Any]:
        return await self.request("GET", path, params=params)

    async def post(self, path: str, body: Mapping[str, Any]) -> dict[str, Any]:
        return await self.request("POST", path, body=body)

    async def put(self, path: str, body: Mapping[str, Any]) -> dict[str, Any]:
        return await self.request("PUT", path, body=body)

    async def request(
        self,
        method: str,
        path: str,
        *,
        body: Mapping[str, Any] | None = None,
        params: Mapping[str, str] | None = None,
    ) -> dict[str, Any]:
        """The decoded JSON answer (``{}`` when empty); raises :class:`IntercomError`."""
        attempts = retrying(attempts=ATTEMPTS, max_wait=MAX_WAIT_SECONDS, min_wait=MIN_WAIT_SECONDS)
        try:
            answer: dict[str, Any] = await attempts(self._once, method, path, body, params)
        except RetryableError as error:
            raise IntercomError(
                f"Intercom ({self.configuration.api_url}) kept failing {method} {path} "
                f"after {ATTEMPTS} attempts: {error}"
            ) from None
        return answer

    async def _once(
        self,
        method: str,
        path: str,
        body: Mapping[str, Any] | None,
        params: Mapping[str, str] | None,
    ) -> dict[str, Any]:
        retry_any = method in _IDEMPOTENT
        try:
            response = await self._http.request(method, path, json=body, params=params)
        except (httpx.ConnectError, httpx.ConnectTimeout) as error:
            raise RetryableError(f"unreachable ({type(error).__name__}: {error})") from None
        except httpx.TransportError as error:
            if retry_any:
                raise RetryableError(f"transport error ({type(error).__name__})") from None
            raise IntercomError(
                f"{method} {path} to Intercom failed midway ({type(error).__name__}: {error}); "
                "not retried, since Intercom may have acted on it"
            ) from None
        status = response.status_code
        if status == 429:
            limit = response.headers.get("X-RateLimit-Limit", "?")
            raise RetryableError(
                f"rate limited (429, limit {limit} per window)",
                delay=retry_after(response.headers),
            )
        if status >= 500 and (retry_any or status in _SAFE_POST_STATUSES):
            raise RetryableError(f"answered {status}", delay=retry_after(response.headers))
        if status >= 400:
            raise self._refusal(method, path, response)
        if not response.content:
            return {}
        try:
            answer = response.json()
        except ValueError:
            raise IntercomError(
                f"Intercom answered {method} {path} with a body that is not JSON: "
                f"{response.text[:200]}"
            ) from None
        return answer if isinstance(answer, dict) else {"data": answer}

    def _refusal(self, method: str, path: str, response: httpx.Response) -> IntercomError:
        detail, code = _detail(response)
        status = response.status_code
        if status == 401:
            return IntercomAuthError(
                f"Intercom refused the access token (accessToken of integration "
                f"{self.label!r}): {detail}",
                status=status,
                code=code,
            )
        if status == 403:
            return IntercomAuthError(
                f"the access token (accessToken of integration {self.label!r}) may not "
                f"{method} {path}: {detail}; grant the permission in Developer Hub > "
                "Authentication",
                status=status,
                code=code,
            )
        kind = IntercomNotFoundError if status in (404, 410) else IntercomError
        return kind(
            f"Intercom refused {method} {path} with {status}: {detail}", status=status, code=code
        )

    async def bot_admin_id(self) -> str:
        """The admin that writes notes, assigns and closes: configured, else the token's owner."""
        if self._bot_admin_id is None:
            me = await self.get("/me")
            if not me.get("id"):
                raise IntercomError(f"Intercom's GET /me answered no admin id: {me!r}")
            self._bot_admin_id = str(me["id"])
        return self._bot_admin_id

    async def close(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> IntercomClient:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.close()
