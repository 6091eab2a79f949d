"""Durable work: the per-conversation job queue, scheduled events, effects and idempotency keys.

Claims are optimistic: an ``UPDATE ... WHERE <still claimable>`` whose row count says who won.
PostgreSQL re-checks the condition under the row lock and SQLite serialises writers, so two
processes never both win one job or one scheduled event. A lease is renewed while its job runs
(``renew_leases``), so it can be short: a dead process's job is taken over within seconds, and
the job's ``runs`` count tells the taker that some of its effects may have happened already.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import and_, bindparam, delete, exists, func, insert, or_, select, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from patchwire.store._notify import WORK, Notifier
from patchwire.store._records import Job, ScheduledEvent
from patchwire.store._tables import (
    ConversationRow,
    EffectRow,
    IdempotencyKeyRow,
    JobRow,
    MessageRow,
    ScheduledEventRow,
    table,
)

__all__ = ["AGENT_QUEUE", "WorkQueue"]

AGENT_QUEUE = ""
"""The queue (conversation id) of work that belongs to no conversation."""

_UNFINISHED = ("pending", "running")
_JOB_COLUMNS = (
    JobRow.id,
    JobRow.conversation_id,
    JobRow.kind,
    JobRow.payload,
    JobRow.attempts,
    JobRow.runs,
    JobRow.status,
    JobRow.last_error,
    JobRow.available_at,
    JobRow.failing_since,
    JobRow.leased_by,
)


def _claim_statement(*, one_conversation: bool) -> Any:
    """``UPDATE jobs ... WHERE id = (the oldest runnable job) AND still claimable RETURNING``.

    Built once with bound parameters, on the Core table: the hot path reuses the statement (and
    SQLAlchemy's compiled form of it) instead of building the expression for every claim.
    """
    jobs = table(JobRow)
    candidate, earlier = jobs.alias("candidate"), jobs.alias("earlier")
    moment = bindparam("moment", type_=jobs.c.available_at.type)

    def claimable(job: Any) -> Any:
        expired = and_(job.c.status == "running", job.c.leased_until < moment)
        return or_(job.c.status == "pending", expired)

    oldest = (
        select(candidate.c.id)
        .where(
            claimable(candidate),
            candidate.c.available_at <= moment,
            ~exists().where(
                earlier.c.conversation_id == candidate.c.conversation_id,
                earlier.c.id < candidate.c.id,
                earlier.c.status.in_(_UNFINISHED),
            ),
        )
        .order_by(candidate.c.id)
        .limit(1)
    )
    if one_conversation:
        oldest = oldest.where(candidate.c.conversation_id == bindparam("conversation"))
    return (
        update(jobs)
        .where(jobs.c.id == oldest.scalar_subquery(), claimable(jobs))
        .values(
            status="running",
            runs=jobs.c.runs + 1,
            leased_by=bindparam("owner"),
            leased_until=bindparam("until", type_=jobs.c.leased_until.type),
        )
        .returning(*(jobs.c[column.key] for column in _JOB_COLUMNS))
    )


_DELETE_JOB = delete(table(JobRow)).where(table(JobRow).c.id == bindparam("job"))
_INSERT_JOB = insert(table(JobRow)).returning(table(JobRow).c.id)
_MARK_SENT = (
    update(table(MessageRow))
    .where(table(MessageRow).c.id.in_(bindparam("ids", expanding=True)))
    .values(status="sent")
)
_REMEMBER = {
    "sqlite": sqlite_insert(table(IdempotencyKeyRow)).on_conflict_do_nothing(),
    "postgresql": postgresql_insert(table(IdempotencyKeyRow)).on_conflict_do_nothing(),
}
_CLAIM_ANY = _claim_statement(one_conversation=False)
_CLAIM_IN_CONVERSATION = _claim_statement(one_conversation=True)


def _now() -> datetime:
    return datetime.now(UTC)


def _job(row: Any) -> Job:
    """A job from a row of ``_JOB_COLUMNS`` (or the table row itself)."""
    return Job(
        id=row.id,
        conversation_id=row.conversation_id,
        kind=row.kind,
        payload=row.payload,
        attempts=row.attempts,
        runs=row.runs,
        status=row.status,
        last_error=row.last_error,
        available_at=row.available_at,
        failing_since=row.failing_since,
        leased_by=row.leased_by,
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
    def __init__(self, sessions: async_sessionmaker[AsyncSession], notifier: Notifier) -> None:
        self.sessions = sessions
        self.notifier = notifier

    # --- idempotency -----------------------------------------------------------------------

    async def remember_in(self, session: AsyncSession, scope: str, key: str) -> bool:
        """True the first time ``(scope, key)`` is seen, in the caller's transaction.

        ``INSERT ... ON CONFLICT DO NOTHING``: a repeat inserts nothing and fails nothing, so
        the caller's transaction needs no savepoint around it.
        """
        dialect = session.bind.dialect.name
        result = await session.execute(
            _REMEMBER[dialect], {"scope": scope, "key": key, "created_at": _now()}
        )
        return bool(result.rowcount)  # type: ignore[attr-defined]

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

    # --- effects ---------------------------------------------------------------------------

    async def recorded_effect(self, key: str) -> dict[str, Any] | None:
        """What the step ``key`` of a job returned when it ran before, if it finished."""
        async with self.sessions() as session:
            found: dict[str, Any] | None = await session.scalar(
                select(EffectRow.result).where(EffectRow.key == key)
            )
            return found

    async def record_effect(self, key: str, result: Mapping[str, Any]) -> None:
        """Keep a finished step's result; a second record of one key keeps the first."""
        try:
            async with self.sessions.begin() as session:
                await session.execute(
                    insert(EffectRow).values(key=key, result=dict(result), created_at=_now())
                )
        except IntegrityError:
            return

    async def forget_effects(self, root: str) -> None:
        """Drop the recorded steps of a finished job (their keys start with ``root:``)."""
        async with self.sessions.begin() as session:
            await session.execute(delete(EffectRow).where(EffectRow.key.startswith(f"{root}:")))

    # --- jobs ------------------------------------------------------------------------------

    async def enqueue_in(
        self,
        session: AsyncSession,
        conversation_id: str,
        kind: str,
        payload: Mapping[str, Any],
        *,
        available_at: datetime | None = None,
        status: str = "pending",
        last_error: str | None = None,
        failing_since: datetime | None = None,
    ) -> int:
        """Queue a job in the caller's transaction; its id."""
        moment = _now()
        job_id = await session.scalar(
            _INSERT_JOB,
            {
                "conversation_id": conversation_id,
                "kind": kind,
                "payload": dict(payload),
                "status": status,
                "attempts": 0,
                "runs": 0,
                "last_error": last_error,
                "failing_since": failing_since,
                "available_at": available_at or moment,
                "created_at": moment,
            },
        )
        assert job_id is not None
        return int(job_id)

    async def enqueue(self, conversation_id: str, kind: str, payload: Mapping[str, Any]) -> Job:
        async with self.sessions.begin() as session:
            job_id = await self.enqueue_in(session, conversation_id, kind, payload)
            await self.notifier.in_transaction(session, WORK)
        self.notifier.local(WORK)
        return Job(id=job_id, conversation_id=conversation_id, kind=kind, payload=payload)

    async def claim_next_job(
        self, owner: str, *, lease: timedelta, conversation_id: str | None = None
    ) -> Job | None:
        """The oldest runnable job of a conversation that nobody is working on, leased to us.

        A job is runnable when it is due and no older unfinished job of its conversation
        exists, so each conversation's jobs run one at a time in the order they came. One
        ``UPDATE ... WHERE id = (oldest runnable) AND still claimable RETURNING`` statement picks
        and leases it; a worker that loses the race to another gets None and asks again later.
        A message job comes with its message, conversation and author, read in the same
        transaction.
        """
        async with self.sessions.begin() as session:
            return await self._claim_in(session, owner, lease, conversation_id)

    async def _claim_in(
        self, session: AsyncSession, owner: str, lease: timedelta, conversation_id: str | None
    ) -> Job | None:
        moment = _now()
        statement = _CLAIM_ANY if conversation_id is None else _CLAIM_IN_CONVERSATION
        parameters = {"moment": moment, "owner": owner, "until": moment + lease}
        if conversation_id is not None:
            parameters["conversation"] = conversation_id
        row = (await session.execute(statement, parameters)).first()
        return None if row is None else await self._with_subject(session, _job(row))

    async def _with_subject(self, session: AsyncSession, job: Job) -> Job:
        """The job with what it is about attached (the store adds a message job's message)."""
        return job

    async def renew_leases(self, owner: str, *, lease: timedelta) -> int:
        """Extend the leases of every job ``owner`` is running (its heartbeat); how many."""
        async with self.sessions.begin() as session:
            result = await session.execute(
                update(JobRow)
                .where(JobRow.leased_by == owner, JobRow.status == "running")
                .values(leased_until=_now() + lease)
            )
            return int(result.rowcount)  # type: ignore[attr-defined]

    async def complete_job(
        self,
        job: Job,
        *,
        sent: Sequence[str] = (),
        then_claim: tuple[str, timedelta] | None = None,
    ) -> Job | None:
        """Forget a finished job and mark the messages it delivered as sent, in one transaction.

        With ``then_claim=(owner, lease)`` the same transaction claims the conversation's next
        runnable job, which is returned: a busy conversation flows without a claim of its own.
        The queue holds only unfinished and failed work, so a claim costs the same after a
        million messages as after ten.
        """
        async with self.sessions.begin() as session:
            if sent:
                await session.execute(_MARK_SENT, {"ids": list(sent)})
            await session.execute(_DELETE_JOB, {"job": job.id})
            if then_claim is None:
                return None
            owner, lease = then_claim
            return await self._claim_in(session, owner, lease, job.conversation_id)

    async def fail_job(
        self, job_id: int, error: str, *, retry_at: datetime | None, sent: Sequence[str] = ()
    ) -> None:
        """Record a failure: retried at ``retry_at``, or given up for good when it is None.

        ``sent`` are the messages the run delivered before it failed (marked sent).
        """
        moment = _now()
        async with self.sessions.begin() as session:
            if sent:
                await session.execute(
                    update(MessageRow).where(MessageRow.id.in_(list(sent))).values(status="sent")
                )
            await session.execute(
                update(JobRow)
                .where(JobRow.id == job_id)
                .values(
                    status="pending" if retry_at is not None else "failed",
                    attempts=JobRow.attempts + 1,
                    last_error=error[:4000],
                    available_at=retry_at or moment,
                    failing_since=func.coalesce(JobRow.failing_since, moment),
                    leased_by=None,
                    leased_until=None,
                )
            )

    async def jobs(
        self,
        *,
        statuses: Sequence[str] = ("pending", "running", "failed"),
        conversation_id: str | None = None,
        limit: int = 500,
    ) -> list[Job]:
        """Jobs in these states, oldest first (what ``patchwire jobs`` shows an operator)."""
        query = (
            select(*_JOB_COLUMNS)
            .where(JobRow.status.in_(list(statuses)))
            .order_by(JobRow.id)
            .limit(limit)
        )
        if conversation_id is not None:
            query = query.where(JobRow.conversation_id == conversation_id)
        async with self.sessions() as session:
            return [_job(row) for row in await session.execute(query)]

    async def failed_jobs(self, conversation_id: str | None = None) -> list[tuple[Job, str]]:
        """Jobs given up on, with their last error."""
        found = await self.jobs(statuses=("failed",), conversation_id=conversation_id)
        return [(job, job.last_error or "") for job in found]

    async def retry_job(self, job_id: int) -> bool:
        """Run a failed job again now (its recorded effects are replayed, not repeated)."""
        async with self.sessions.begin() as session:
            result = await session.execute(
                update(JobRow)
                .where(JobRow.id == job_id, JobRow.status == "failed")
                .values(status="pending", available_at=_now(), failing_since=None)
            )
            if not result.rowcount:  # type: ignore[attr-defined]
                return False
            await self.notifier.in_transaction(session, WORK)
        self.notifier.local(WORK)
        return True

    async def discard_job(self, job_id: int) -> bool:
        """Drop a failed or waiting job for good; False when it is running or unknown.

        Dropping a conversation's waiting delivery gives up on every message it holds (they
        become ``failed``), so later messages of the conversation go out again.
        """
        async with self.sessions.begin() as session:
            job = (
                await session.execute(
                    delete(JobRow)
                    .where(JobRow.id == job_id, JobRow.status != "running")
                    .returning(JobRow.kind, JobRow.conversation_id, JobRow.status)
                )
            ).first()
            if job is None:
                return False
            if job.kind == "deliver" and job.status == "pending":
                await session.execute(
                    update(MessageRow)
                    .where(
                        MessageRow.conversation_id == job.conversation_id,
                        MessageRow.status == "queued",
                    )
                    .values(status="failed")
                )
                await session.execute(
                    update(ConversationRow)
                    .where(ConversationRow.id == job.conversation_id)
                    .values(undelivered=0)
                )
            return True

    async def next_wakeup(self, owner: str) -> datetime | None:
        """When work may next become runnable without anybody saying so, or None.

        The earliest of: a pending job's ``available_at``, a pending scheduled event's due
        time, and the lease end of a job another worker holds (it may have died). An idle
        worker sleeps until then instead of polling.
        """
        pending = select(func.min(JobRow.available_at)).where(JobRow.status == "pending")
        leases = select(func.min(JobRow.leased_until)).where(
            JobRow.status == "running", JobRow.leased_by != owner
        )
        timers = select(func.min(ScheduledEventRow.due_at)).where(
            ScheduledEventRow.status == "pending"
        )
        async with self.sessions() as session:
            row = (
                await session.execute(
                    select(
                        pending.scalar_subquery(),
                        leases.scalar_subquery(),
                        timers.scalar_subquery(),
                    )
                )
            ).one()
        moments = [_aware(value) for value in row if value is not None]
        return min(moments) if moments else None

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
        effect_key: str | None = None,
    ) -> ScheduledEvent:
        """A durable timer; with ``effect_key``, scheduling the same step twice makes one."""
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
            effect_key=effect_key,
            created_at=_now(),
        )
        try:
            async with self.sessions.begin() as session:
                session.add(row)
                await session.flush()
                await self.notifier.in_transaction(session, WORK, due_at.isoformat())
        except IntegrityError:
            async with self.sessions() as session:
                existing = await session.scalar(
                    select(ScheduledEventRow).where(ScheduledEventRow.effect_key == effect_key)
                )
            if existing is None:
                raise
            return _scheduled(existing)
        self.notifier.local(WORK, due_at.isoformat())
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

        Events without a conversation go to the agent-wide queue (:data:`AGENT_QUEUE`).
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
                await self.enqueue_in(
                    session,
                    event.conversation_id or AGENT_QUEUE,
                    "scheduled",
                    {"scheduled_event_id": event.id},
                )
                await self.notifier.in_transaction(session, WORK)
                fired.append(event)
        if fired:
            self.notifier.local(WORK)
        return fired


def _aware(value: datetime) -> datetime:
    """Subquery results skip the column type on SQLite: make them aware UTC datetimes."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
