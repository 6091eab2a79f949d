"""Credentials: OAuth client credentials (default, token cached and refreshed) or API token.

Zendesk is retiring API tokens, so OAuth comes first; the token endpoint takes a JSON body.
A token is renewed shortly before it expires, and once more if Zendesk still refuses it (a
revoked or early-expired token), so expiry never surfaces to a session.
"""

from __future__ import annotations

import asyncio
import base64
import time
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

import httpx

from patchwire_zendesk._definition import ZendeskConfiguration
from patchwire_zendesk._errors import CredentialsError

__all__ = [
    "ApiToken",
    "ClientCredentials",
    "Credentials",
    "Send",
    "credentials_for",
    "response_detail",
]

Send = Callable[[str, str, dict[str, Any]], Awaitable[httpx.Response]]
"""``send(method, url, json)``: one HTTP exchange, retried by the client on 429/5xx."""

RENEW_MARGIN_SECONDS = 60.0


class Credentials(Protocol):
    """How requests are authorised, and what to say when Zendesk refuses them."""

    renewable: bool

    async def authorization(self, send: Send) -> str: ...

    def invalidate(self) -> None: ...

    def refused(self, status: int, method: str, path: str, detail: str) -> str: ...


class ApiToken:
    """Legacy ``email/token:api_token`` Basic authentication."""

    renewable = False

    def __init__(self, email: str, token: str) -> None:
        self.email = email
        raw = f"{email}/token:{token}".encode()
        self._header = "Basic " + base64.b64encode(raw).decode()

    async def authorization(self, send: Send) -> str:
        return self._header

    def invalidate(self) -> None:
        """Nothing to renew: an API token is valid until revoked."""

    def refused(self, status: int, method: str, path: str, detail: str) -> str:
        if status == 401:
            return (
                f"Zendesk refused email {self.email!r} with its API token ({detail}): check "
                "email and apiToken; API tokens are being retired, prefer an OAuth client "
                "(clientId + clientSecret)"
            )
        return (
            f"the agent {self.email!r} may not {method} {path} (Zendesk answered 403: {detail}); "
            "give that agent a role that allows it (admin for webhooks and triggers)"
        )


class ClientCredentials:
    """An OAuth confidential client: ``grant_type=client_credentials``, then refresh tokens."""

    renewable = True

    def __init__(
        self,
        token_url: str,
        client_id: str,
        client_secret: str,
        scope: str,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.token_url = token_url
        self.client_id = client_id
        self._secret = client_secret
        self.scope = scope
        self._clock = clock
        self._lock = asyncio.Lock()
        self._access: str | None = None
        self._renew_at = 0.0
        self._refresh: str | None = None
        self._refresh_until = 0.0
        self.fetched = 0
        """How many tokens were obtained (tests and diagnostics)."""

    def _valid(self) -> bool:
        return self._access is not None and self._clock() < self._renew_at

    async def authorization(self, send: Send) -> str:
        if not self._valid():
            async with self._lock:
                if not self._valid():
                    await self._obtain(send)
        return f"Bearer {self._access}"

    def invalidate(self) -> None:
        self._access = None

    async def _obtain(self, send: Send) -> None:
        body: dict[str, Any] = {
            "grant_type": "client_credentials",
            "client_id": self.client_id,
            "client_secret": self._secret,
            "scope": self.scope,
        }
        if self._refresh is not None and self._clock() < self._refresh_until:
            refresh = {**body, "grant_type": "refresh_token", "refresh_token": self._refresh}
            response = await send("POST", self.token_url, refresh)
            if response.status_code < 400:
                self._store(response)
                return
            self._refresh = None  # a refused refresh token: start again from the client secret
        response = await send("POST", self.token_url, body)
        if response.status_code >= 400:
            raise CredentialsError(
                f"Zendesk refused the OAuth client {self.client_id!r} at {self.token_url} "
                f"({response.status_code}: {response_detail(response)}): check clientId and "
                "clientSecret, and that the client may use the client credentials grant",
                status=response.status_code,
            )
        self._store(response)

    def _store(self, response: httpx.Response) -> None:
        try:
            answer = response.json()
            access = answer["access_token"]
        except (ValueError, KeyError, TypeError):
            raise CredentialsError(
                f"{self.token_url} answered without an access_token: {response.text[:200]}"
            ) from None
        now = self._clock()
        lifetime = answer.get("expires_in")
        self._access = str(access)
        if isinstance(lifetime, int | float) and lifetime > 0:
            self._renew_at = now + lifetime - min(RENEW_MARGIN_SECONDS, lifetime / 10)
        else:
            self._renew_at = float("inf")
        refresh = answer.get("refresh_token")
        refresh_lifetime = answer.get("refresh_token_expires_in")
        self._refresh = str(refresh) if refresh else None
        self._refresh_until = (
            now + float(refresh_lifetime) - RENEW_MARGIN_SECONDS
            if isinstance(refresh_lifetime, int | float)
            else now + 7 * 24 * 3600
        )
        self.fetched += 1

    def refused(self, status: int, method: str, path: str, detail: str) -> str:
        if status == 401:
            return (
                f"Zendesk refused a fresh access token of OAuth client {self.client_id!r} "
                f"({detail}): the client or its user may have been deactivated"
            )
        return (
            f"OAuth client {self.client_id!r} may not {method} {path} (Zendesk answered 403: "
            f"{detail}); check its scope ({self.scope!r}) and the role of the agent who "
            "created the client (admin for webhooks and triggers)"
        )


def response_detail(response: httpx.Response) -> str:
    try:
        answer = response.json()
    except ValueError:
        return response.text[:200] or response.reason_phrase
    if isinstance(answer, dict):
        keys = ("error", "error_description", "description")
        parts = [str(answer[k]) for k in keys if k in answer]
        if parts:
            return ": ".join(parts)[:300]
    return str(answer)[:300]


def credentials_for(configuration: ZendeskConfiguration) -> Credentials:
    """The credentials the configuration names (it was validated to name exactly one kind)."""
    if configuration.client_id and configuration.client_secret:
        return ClientCredentials(
            f"{configuration.url}/oauth/tokens",
            configuration.client_id,
            configuration.client_secret,
            configuration.oauth_scope,
        )
    assert configuration.email and configuration.api_token
    return ApiToken(configuration.email, configuration.api_token)
