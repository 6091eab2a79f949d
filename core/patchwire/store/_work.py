"""Durable work: the per-conversation job queue, scheduled events and idempotency keys.

Claims are optimistic: an ``UPDATE ... WHERE <still claimable>`` whose row count says who won.
PostgreSQL re-checks the condition under the row lock and SQLite serialises writers, so two
processes never both win one job or one scheduled event.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import and_, delete, exists, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import aliased

from patchwire.store._records import Job, ScheduledEvent
from patchwire.store._tables import IdempotencyKeyRow, JobRow, ScheduledEventRow

__all__ = ["WorkQueue"]

_UNFINISHED = ("pending", "running")


def _now() -> datetime:
    return datetime.now(UTC)


def _job(row: Any) -> Job:
    """A job from its table row, or from a row of the same columns a statement returned."""
    return Job(
        id=row.id,
        conversation_id=row.conversation_id,
        kind=row.kind,
        payload=row.payload,
        attempts=row.attempts,
    )


def _scheduled(row: ScheduledEventRow) -> ScheduledEvent:
    return ScheduledEvent(
        id=row.id,
        type=row.type,
        source=row.source,
        payload=row.payload,
        conversation_id=row.conversation_id,
        user_id=row.user_id,
        due_at=row.due_at,
        status=row.status,
    )


class WorkQueue:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self.sessions = sessions

    # --- idempotency -----------------------------------------------------------------------

    async def remember_in(self, session: AsyncSession, scope: str, key: str) -> bool:
        """True the first time ``(scope, key)`` is seen, in the caller's transaction."""
        try:
            async with session.begin_nested():
                session.add(IdempotencyKeyRow(scope=scope, key=key, created_at=_now()))
        except IntegrityError:
            return False
        return True

    async def remember(self, scope: str, key: str) -> bool:
        async with self.sessions.begin() as session:
            return await self.remember_in(session, scope, key)

    async def forget_before(self, scope: str, moment: datetime) -> int:
        """Drop the keys of ``scope`` remembered before ``moment``; how many went."""
        async with self.sessions.begin() as session:
            result = await session.execute(
                delete(IdempotencyKeyRow).where(
                    IdempotencyKeyRow.scope == scope, IdempotencyKeyRow.created_at < moment
                )
            )
            return int(result.rowcount)  # type: ignore[attr-defined]

    # --- jobs ------------------------------------------------------------------------------

    async def enqueue_in(
        self, session: AsyncSession, conversation_id: str, kind: str, payload: Mapping[str, Any]
    ) -> Job:
        moment = _now()
        row = JobRow(
            conversation_id=conversation_id,
            kind=kind,
            payload=dict(payload),
            status="pending",
            attempts=0,
            available_at=moment,
            created_at=moment,
        )
        session.add(row)
        await session.flush()
        return _job(row)

    async def enqueue(self, conversation_id: str, kind: str, payload: Mapping[str, Any]) -> Job:
        async with self.sessions.begin() as session:
            return await self.enqueue_in(session, conversation_id, kind, payload)

    async def claim_next_job(
        self, owner: str, *, lease: timedelta, conversation_id: str | None = None
    ) -> Job | None:
        """The oldest runnable job of a conversation that nobody is working on, leased to us.

        A job is runnable when it is due and no older unfinished job of its conversation
        exists, so each conversation's jobs run one at a time in the order they came. One
        ``UPDATE ... WHERE id = (oldest runnable) AND still claimable RETURNING`` statement picks
        and leases it; a worker that loses the race to another gets None and asks again later.
        """
        moment = _now()
        candidate, earlier = aliased(JobRow), aliased(JobRow)

        def claimable(job: Any) -> Any:
            return or_(
                job.status == "pending",
                and_(job.status == "running", job.leased_until < moment),
            )

        oldest = (
            select(candidate.id)
            .where(
                claimable(candidate),
                candidate.available_at <= moment,
                ~exists().where(
                    earlier.conversation_id == candidate.conversation_id,
                    earlier.id < candidate.id,
                    earlier.status.in_(_UNFINISHED),
                ),
            )
            .order_by(candidate.id)
            .limit(1)
        )
        if conversation_id is not None:
            oldest = oldest.where(candidate.conversation_id == conversation_id)
        statement = (
            update(JobRow)
            .where(JobRow.id == oldest.scalar_subquery(), claimable(JobRow))
            .values(status="running", leased_by=owner, leased_until=moment + lease)
            .returning(
                JobRow.id, JobRow.conversation_id, JobRow.kind, JobRow.payload, JobRow.attempts
            )
        )
        async with self.sessions.begin() as session:
            row = (await session.execute(statement)).first()
        return None if row is None else _job(row)

    async def complete_job(self, job_id: int) -> None:
        """Forget a finished job: the queue holds only unfinished and failed work, so a claim
        costs the same after a million messages as after ten."""
        async with self.sessions.begin() as session:
            await session.execute(delete(JobRow).where(JobRow.id == job_id))

    async def fail_job(self, job_id: int, error: str, *, retry_at: datetime | None) -> None:
        """Record a failure: retried at ``retry_at``, or given up for good when it is None."""
        async with self.sessions.begin() as session:
            await session.execute(
                update(JobRow)
                .where(JobRow.id == job_id)
                .values(
                    status="pending" if retry_at is not None else "failed",
                    attempts=JobRow.attempts + 1,
                    last_error=error[:4000],
                    available_at=retry_at or _now(),
                    leased_by=None,
                    leased_until=None,
                )
            )

    async def failed_jobs(self, conversation_id: str | None = None) -> list[tuple[Job, str]]:
        """Jobs given up on, with their last error (what an operator looks at)."""
        query = select(JobRow).where(JobRow.status == "failed").order_by(JobRow.id)
        if conversation_id is not None:
            query = query.where(JobRow.conversation_id == conversation_id)
        async with self.sessions() as session:
            return [(_job(row), row.last_error or "") for row in await session.scalars(query)]

    # --- scheduled events ------------------------------------------------------------------

    async def schedule(
        self,
        *,
        type: str,
        source: str,
        payload: Mapping[str, Any],
        due_at: datetime,
        conversation_id: str | None = None,
        user_id: str | None = None,
    ) -> ScheduledEvent:
        if due_at.tzinfo is None:
            raise ValueError("due_at must be timezone-aware (use datetime.now(UTC) + ...)")
        row = ScheduledEventRow(
            id=uuid.uuid4().hex,
            type=type,
            source=source,
            payload=dict(payload),
            conversation_id=conversation_id,
            user_id=user_id,
            due_at=due_at,
            status="pending",
            created_at=_now(),
        )
        async with self.sessions.begin() as session:
            session.add(row)
        return _scheduled(row)

    async def cancel_scheduled(self, event_id: str) -> bool:
        """Cancel a pending event; False when it already fired or was cancelled."""
        async with self.sessions.begin() as session:
            changed = await session.execute(
                update(ScheduledEventRow)
                .where(ScheduledEventRow.id == event_id, ScheduledEventRow.status == "pending")
                .values(status="cancelled")
            )
            return bool(changed.rowcount)  # type: ignore[attr-defined]

    async def get_scheduled(self, event_id: str) -> ScheduledEvent | None:
        async with self.sessions() as session:
            row = await session.get(ScheduledEventRow, event_id)
            return None if row is None else _scheduled(row)

    async def fire_due(self, owner: str, *, limit: int = 100) -> list[ScheduledEvent]:
        """Fire due events exactly once: each is marked fired and its job enqueued atomically.

        Events without a conversation share the agent-wide queue (conversation id ``""``).
        """
        moment = _now()
        async with self.sessions() as session:
            due = list(
                await session.scalars(
                    select(ScheduledEventRow.id)
                    .where(
                        ScheduledEventRow.status == "pending", ScheduledEventRow.due_at <= moment
                    )
                    .order_by(ScheduledEventRow.due_at)
                    .limit(limit)
                )
            )
        fired: list[ScheduledEvent] = []
        for event_id in due:
            async with self.sessions.begin() as session:
                won = await session.execute(
                    update(ScheduledEventRow)
                    .where(ScheduledEventRow.id == event_id, ScheduledEventRow.status == "pending")
                    .values(status="fired", claimed_by=owner, claimed_until=moment)
                )
                if won.rowcount != 1:  # type: ignore[attr-defined]
                    continue
                row = await session.get(ScheduledEventRow, event_id)
                assert row is not None
                event = _scheduled(row)
                if event.conversation_id is not None:
                    await self.enqueue_in(
                        session,
                        event.conversation_id,
                        "scheduled",
                        {"scheduled_event_id": event.id},
                    )
                fired.append(event)
        return fired
