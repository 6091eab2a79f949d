"""A small typed client for the dozen Support API calls the adapter makes.

Every call is authorised by the configured credentials, retried on 429 and 5xx with backoff
that honours ``Retry-After``, and fails with an error that says what to fix. Zendesk has no
idempotency keys, so creating a ticket looks for it by ``external_id`` before each retry.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

import httpx

from patchwire.downloads import Download, DownloadPolicy, DownloadRefused, download
from patchwire.retries import RetryableError, retry_after, retrying
from patchwire_zendesk._auth import Credentials, credentials_for, response_detail
from patchwire_zendesk._definition import ZendeskConfiguration
from patchwire_zendesk._errors import (
    CredentialsError,
    ThrottledError,
    TicketGoneError,
    ZendeskError,
)

__all__ = ["ZendeskClient"]

logger = logging.getLogger("patchwire.zendesk")

ATTEMPTS = 4
BASE_WAIT_SECONDS = 0.25
MAX_WAIT_SECONDS = 60.0
DEFAULT_THROTTLE_SECONDS = 1.0

class ZendeskClient:
    """One per integration alias; holds the HTTP connection pool and the token cache."""

    def __init__(
        self,
        configuration: ZendeskConfiguration,
        *,
        credentials: Credentials | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        downloads: DownloadPolicy | None = None,
    ) -> None:
        self.configuration = configuration
        self.base_url = configuration.url
        self.credentials = credentials or credentials_for(configuration)
        self._http = httpx.AsyncClient(
            timeout=httpx.Timeout(20.0, connect=10.0), transport=transport
        )
        self.downloads = downloads or DownloadPolicy(
            hosts=(httpx.URL(configuration.url).host, *configuration.attachment_hosts),
            max_bytes=configuration.max_attachment_bytes,
        )
        # Files are fetched without any Zendesk credential, and only as the policy allows.
        self._files = httpx.AsyncClient(timeout=httpx.Timeout(15.0), follow_redirects=False)

    async def close(self) -> None:
        await self._http.aclose()
        await self._files.aclose()

    # --- the exchange ----------------------------------------------------------------------

    async def _send(self, method: str, url: str, body: dict[str, Any]) -> httpx.Response:
        """One unauthenticated JSON exchange (the token endpoint); 429/5xx are retryable."""
        try:
            response = await self._http.request(method, url, json=body)
        except httpx.TransportError as error:
            raise RetryableError(f"unreachable ({type(error).__name__}: {error})") from None
        if response.status_code == 429 or response.status_code >= 500:
            raise RetryableError(
                f"answered {response.status_code}",
                status=response.status_code,
                delay=retry_after(response.headers),
            )
        return response

    async def request(
        self,
        method: str,
        path: str,
        *,
        json: dict[str, Any] | None = None,
        params: dict[str, str] | None = None,
        content: bytes | None = None,
        content_type: str | None = None,
        wait_when_throttled: bool = True,
        before_retry: Callable[[], Awaitable[dict[str, Any] | None]] | None = None,
    ) -> dict[str, Any]:
        """The decoded JSON answer of ``method path`` (``{}`` when empty).

        ``wait_when_throttled=False`` raises :class:`ThrottledError` on 429 instead of
        waiting; ``before_retry`` may return an answer that makes a retry unnecessary.
        """
        try:
            async for attempt in retrying(
                attempts=ATTEMPTS, max_wait=MAX_WAIT_SECONDS, base=BASE_WAIT_SECONDS
            ):
                with attempt:
                    if attempt.retry_state.attempt_number > 1 and before_retry is not None:
                        found = await before_retry()
                        if found is not None:
                            return found
                    return await self._attempt(
                        method, path, json, params, content, content_type, wait_when_throttled
                    )
        except RetryableError as error:
            raise ZendeskError(
                f"{method} {path}: Zendesk at {self.base_url} kept failing after "
                f"{ATTEMPTS} attempts ({error})",
                status=error.status,
            ) from None
        raise AssertionError("unreachable: tenacity either returns or raises")  # pragma: no cover

    async def _attempt(
        self,
        method: str,
        path: str,
        json: dict[str, Any] | None,
        params: dict[str, str] | None,
        content: bytes | None,
        content_type: str | None,
        wait_when_throttled: bool,
    ) -> dict[str, Any]:
        response = await self._exchange(method, path, json, params, content, content_type)
        if response.status_code == 401 and self.credentials.renewable:
            # A token revoked or expired early: get a new one and try once more.
            self.credentials.invalidate()
            response = await self._exchange(method, path, json, params, content, content_type)
        status = response.status_code
        if status == 429:
            wait = retry_after(response.headers)
            if not wait_when_throttled:
                raise ThrottledError(
                    f"{method} {path}: throttled by Zendesk",
                    retry_after=wait if wait is not None else DEFAULT_THROTTLE_SECONDS,
                )
            raise RetryableError("answered 429 (throttled)", status=429, delay=wait)
        if status >= 500:
            raise RetryableError(
                f"answered {status}", status=status, delay=retry_after(response.headers)
            )
        if status in (401, 403):
            raise CredentialsError(
                self.credentials.refused(status, method, path, response_detail(response)),
                status=status,
            )
        if status >= 400:
            raise ZendeskError(
                f"Zendesk refused {method} {path} ({status}: {response_detail(response)})",
                status=status,
            )
        if not response.content:
            return {}
        try:
            answer = response.json()
        except ValueError:
            raise ZendeskError(
                f"{method} {path}: the answer is not JSON: {response.text[:200]}"
            ) from None
        return answer if isinstance(answer, dict) else {}

    async def _exchange(
        self,
        method: str,
        path: str,
        json: dict[str, Any] | None,
        params: dict[str, str] | None,
        content: bytes | None,
        content_type: str | None,
    ) -> httpx.Response:
        headers = {"Authorization": await self.credentials.authorization(self._send)}
        if content_type is not None:
            headers["Content-Type"] = content_type
        try:
            return await self._http.request(
                method,
                f"{self.base_url}{path}",
                json=json,
                params=params,
                content=content,
                headers=headers,
            )
        except httpx.TransportError as error:
            raise RetryableError(f"unreachable ({type(error).__name__}: {error})") from None

    # --- tickets ---------------------------------------------------------------------------

    async def tickets_by_external_id(self, external_id: str) -> list[dict[str, Any]]:
        answer = await self.request("GET", "/api/v2/tickets", params={"external_id": external_id})
        return list(answer.get("tickets") or [])

    async def create_ticket(self, ticket: dict[str, Any]) -> dict[str, Any]:
        """Create ``ticket`` (which carries an ``external_id``) at most once across retries."""
        external_id = str(ticket["external_id"])

        async def landed() -> dict[str, Any] | None:
            found = [t for t in await self.tickets_by_external_id(external_id) if _open(t)]
            return {"ticket": found[0]} if found else None

        answer = await self.request(
            "POST", "/api/v2/tickets", json={"ticket": ticket}, before_retry=landed
        )
        return dict(answer["ticket"])

    async def open_ticket(self, external_id: str) -> dict[str, Any] | None:
        """An open ticket this integration already made for ``external_id``, if any."""
        found = [t for t in await self.tickets_by_external_id(external_id) if _open(t)]
        return found[0] if found else None

    async def ticket(self, ticket_id: str) -> dict[str, Any]:
        try:
            answer = await self.request("GET", f"/api/v2/tickets/{ticket_id}")
        except ZendeskError as error:
            raise _gone(ticket_id, error) from None
        return dict(answer["ticket"])

    async def update_ticket(
        self, ticket_id: str, fields: dict[str, Any], *, wait_when_throttled: bool = True
    ) -> dict[str, Any]:
        try:
            return await self.request(
                "PUT",
                f"/api/v2/tickets/{ticket_id}",
                json={"ticket": fields},
                wait_when_throttled=wait_when_throttled,
            )
        except ZendeskError as error:
            raise _gone(ticket_id, error) from None

    async def recent_comments(
        self, ticket_id: str
    ) -> tuple[list[dict[str, Any]], dict[int, dict[str, Any]]]:
        """The newest 100 comments, oldest first, and their authors by id."""
        try:
            answer = await self.request(
                "GET",
                f"/api/v2/tickets/{ticket_id}/comments",
                params={"sort_order": "desc", "per_page": "100", "include": "users"},
            )
        except ZendeskError as error:
            raise _gone(ticket_id, error) from None
        users = {int(u["id"]): dict(u) for u in answer.get("users") or [] if "id" in u}
        return list(reversed(answer.get("comments") or [])), users

    # --- users and uploads -----------------------------------------------------------------

    async def create_or_update_user(self, user: dict[str, Any]) -> dict[str, Any]:
        answer = await self.request("POST", "/api/v2/users/create_or_update", json={"user": user})
        return dict(answer["user"])

    async def user(self, user_id: str) -> dict[str, Any]:
        answer = await self.request("GET", f"/api/v2/users/{user_id}")
        return dict(answer["user"])

    async def upload(
        self, filename: str, content: bytes, content_type: str, *, token: str | None = None
    ) -> str:
        """Upload one file; ``token`` (of an earlier upload) groups several files."""
        params = {"filename": filename}
        if token is not None:
            params["token"] = token
        answer = await self.request(
            "POST", "/api/v2/uploads", params=params, content=content, content_type=content_type
        )
        return str(answer["upload"]["token"])

    async def download(self, url: str) -> Download | None:
        """Fetch a user's file for re-upload, as :attr:`downloads` allows; None when it cannot
        or may not be had (then it is linked instead)."""
        try:
            return await download(self._files, url, self.downloads)
        except DownloadRefused as refused:
            logger.info("not fetching %s for upload (%s); linking it instead", url[:200], refused)
        except httpx.HTTPError as error:
            logger.info("could not fetch %s for upload (%s); linking it instead", url[:200], error)
        return None


def _open(ticket: dict[str, Any]) -> bool:
    return ticket.get("status") not in ("solved", "closed")


def _gone(ticket_id: str, error: ZendeskError) -> ZendeskError:
    """404 (deleted) and a closed ticket's 422 become :class:`TicketGoneError`."""
    if error.status == 404:
        return TicketGoneError(f"ticket {ticket_id} was deleted in Zendesk", status=404)
    if error.status == 422 and "closed" in str(error).lower():
        return TicketGoneError(f"ticket {ticket_id} is closed in Zendesk", status=422)
    return error
