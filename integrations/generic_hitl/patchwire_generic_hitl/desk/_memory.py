"""What the protocol routes remember across restarts: signatures seen, answers by idempotency key.

Both live in the desk's database, so a desk that restarts (or a second desk process on the
same PostgreSQL database) still refuses an exact replay and still answers a repeated call as
the first time. Each is kept only as long as it can matter, then purged.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import delete
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from patchwire_generic_hitl.desk._tables import IdempotentCallRow, SeenSignatureRow

__all__ = ["IDEMPOTENCY_SECONDS", "Answer", "CallInProgress", "KeyReused", "Memory"]

IDEMPOTENCY_SECONDS = 24 * 3600
"""A repeat of a call within a day gets the first answer; later it runs again."""


@dataclass(frozen=True)
class Answer:
    status: int
    body: str


class CallInProgress(RuntimeError):
    """The first call with this key has not finished yet."""


class KeyReused(ValueError):
    """An idempotency key already used for a different request."""


class Memory:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._session = sessions

    async def remember(self, key: str, *, forget_after: timedelta | None = None) -> bool:
        """True the first time ``key`` is seen (within ``forget_after``); False for a repeat.

        The same contract as ``Context.remember``, so core's webhook verifier can use it.
        """
        moment = time.time()
        kept = math.inf if forget_after is None else forget_after.total_seconds()
        try:
            async with self._session.begin() as session:
                await session.execute(
                    delete(SeenSignatureRow).where(SeenSignatureRow.expires_at < moment)
                )
                session.add(SeenSignatureRow(key=key, expires_at=moment + kept))
        except IntegrityError:
            return False
        return True

    async def start_call(self, key: str, fingerprint: str) -> Answer | None:
        """None when this caller runs the call; the stored answer when it ran already.

        Raises :class:`CallInProgress` while the first call runs, and :class:`KeyReused` when
        the key came with another request.
        """
        moment = time.time()
        try:
            async with self._session.begin() as session:
                await session.execute(
                    delete(IdempotentCallRow).where(IdempotentCallRow.expires_at < moment)
                )
                session.add(
                    IdempotentCallRow(
                        key=key, fingerprint=fingerprint, expires_at=moment + IDEMPOTENCY_SECONDS
                    )
                )
            return None
        except IntegrityError:
            pass
        async with self._session() as session:
            row = await session.get(IdempotentCallRow, key)
        if row is None:
            raise CallInProgress(key)
        if row.fingerprint != fingerprint:
            raise KeyReused(key)
        if row.status is None or row.body is None:
            raise CallInProgress(key)
        return Answer(row.status, row.body)

    async def finish_call(self, key: str, answer: Answer) -> None:
        async with self._session.begin() as session:
            row = await session.get(IdempotentCallRow, key)
            if row is not None:
                row.status = answer.status
                row.body = answer.body

    async def forget_call(self, key: str) -> None:
        """The call failed without an answer worth repeating: a retry may run it again."""
        async with self._session.begin() as session:
            await session.execute(delete(IdempotentCallRow).where(IdempotentCallRow.key == key))
