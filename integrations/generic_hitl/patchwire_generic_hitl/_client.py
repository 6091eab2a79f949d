"""Calls to the live-agent service: signed, retried on 429 and 5xx, with clear failures."""

from __future__ import annotations

import hashlib
import json
import time
from typing import Any

import httpx

from patchwire import PatchwireError
from patchwire.retries import RetryableError, retry_after, retrying
from patchwire_generic_hitl._definition import GenericHitlConfiguration
from patchwire_generic_hitl._recent import Recent
from patchwire_generic_hitl._signing import HEADER, TOLERANCE_SECONDS, sign

__all__ = ["IDEMPOTENCY_HEADER", "ServiceClient", "ServiceError"]

IDEMPOTENCY_HEADER = "Idempotency-Key"

ATTEMPTS = 4
MAX_WAIT_SECONDS = 10.0


class ServiceError(PatchwireError):
    """The live-agent service refused a call, or stayed unreachable or failing."""


class ServiceClient:
    def __init__(self, configuration: GenericHitlConfiguration, *, transport: Any = None) -> None:
        self.configuration = configuration
        self.base_url = configuration.endpoint_base_url.rstrip("/")
        self._http = httpx.AsyncClient(timeout=15, transport=transport)
        self._signed: Recent[bytes] = Recent(TOLERANCE_SECONDS)

    def _timestamp(self, raw: bytes) -> int:
        """Now, unless this body was signed at that second: then a later second.

        A receiver refuses a signature it has seen (a replay), so two deliveries of one body
        (a retry, or a service's "send again") must not share a timestamp.
        """
        now = int(time.time())
        digest = hashlib.sha256(raw).digest()
        previous = self._signed.get(digest, now)
        moment = now if previous is None or previous < now else int(previous) + 1
        self._signed.put(digest, moment)
        return moment

    async def call(
        self, path: str, body: dict[str, Any], *, idempotency_key: str | None = None
    ) -> dict[str, Any]:
        """POST ``body`` to ``path``; the decoded JSON answer (``{}`` when empty).

        ``idempotency_key`` goes out as the ``Idempotency-Key`` header on every attempt, so a
        service that stored a call and then failed to answer can drop the repeat.
        """
        raw = json.dumps(body, separators=(",", ":")).encode()
        url = f"{self.base_url}{path}"
        attempts = retrying(attempts=ATTEMPTS, max_wait=MAX_WAIT_SECONDS)
        try:
            answer: dict[str, Any] = await attempts(self._post, url, raw, idempotency_key)
        except RetryableError as error:
            raise ServiceError(f"{url} kept failing after {ATTEMPTS} attempts: {error}") from None
        return answer

    async def _post(self, url: str, raw: bytes, idempotency_key: str | None) -> dict[str, Any]:
        headers = {"Content-Type": "application/json"}
        if idempotency_key is not None:
            headers[IDEMPOTENCY_HEADER] = idempotency_key
        if self.configuration.signing_secret:
            headers[HEADER] = sign(
                self.configuration.signing_secret, raw, timestamp=self._timestamp(raw)
            )
        try:
            response = await self._http.post(url, content=raw, headers=headers)
        except httpx.TransportError as error:
            raise RetryableError(f"unreachable ({type(error).__name__}: {error})") from None
        if response.status_code == 429 or response.status_code >= 500:
            raise RetryableError(
                f"answered {response.status_code}", delay=retry_after(response.headers)
            )
        if response.status_code >= 400:
            raise ServiceError(
                f"{url} refused the call with {response.status_code}: {response.text[:300]}"
            )
        if not response.content:
            return {}
        try:
            answer = response.json()
        except ValueError:
            raise ServiceError(
                f"{url} answered a body that is not JSON: {response.text[:200]}"
            ) from None
        return answer if isinstance(answer, dict) else {}

    async def close(self) -> None:
        await self._http.aclose()
