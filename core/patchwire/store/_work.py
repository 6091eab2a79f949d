"""Durable work: the per-conversation job queue, scheduled events, effects and idempotency keys.

Claims are optimistic: an ``UPDATE ... WHERE <still claimable>`` whose row count says who won.
PostgreSQL re-checks the condition under the row lock and SQLite serialises writers, so two
processes never both win one job or one scheduled event. A lease is renewed while its job runs
(``renew_leases``), so it can be short: a dead process's job is taken over within seconds, and
the job's ``runs`` count tells the taker that some of its effects may have happened already.
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import and_, any_, bindparam, delete, exists, func, insert, or_, select, update
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from patchwire.store._notify import WORK, Notifier
from patchwire.store._prepared import Prepared
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
from patchwire.store._transactions import Transactions

__all__ = [
    "AGENT_QUEUE",
    "JOB_COLUMNS",
    "JOB_FIELDS",
    "UNFINISHED",
    "WorkQueue",
    "job_from_row",
    "new_job",
]

AGENT_QUEUE = ""
"""The queue (conversation id) of work that belongs to no conversation."""

UNFINISHED = ("pending", "running")
"""The job states that make later jobs of the conversation wait."""
_JOBS = table(JobRow)
_MESSAGES = table(MessageRow)
_CONVERSATIONS = table(ConversationRow)
_SCHEDULED = table(ScheduledEventRow)
_EFFECTS = table(EffectRow)
_KEYS = table(IdempotencyKeyRow)
JOB_COLUMNS = tuple(
    _JOBS.c[name]
    for name in (
        "id",
        "conversation_id",
        "kind",
        "payload",
        "attempts",
        "runs",
        "status",
        "last_error",
        "available_at",
        "failing_since",
        "leased_by",
    )
)


def _claim_statement(*, one_conversation: bool, besides: Any = None) -> Any:
    """``UPDATE jobs ... WHERE id = (the oldest runnable job) AND still claimable RETURNING``.

    Built once with bound parameters: the hot path reuses the statement (and SQLAlchemy's
    compiled form of it) instead of building the expression for every claim. ``besides``: a
    job the claim neither takes nor waits for (one the same statement deletes).
    """
    candidate, earlier = _JOBS.alias("candidate"), _JOBS.alias("earlier")
    moment = bindparam("moment", type_=_JOBS.c.available_at.type)

    def claimable(job: Any) -> Any:
        expired = and_(job.c.status == "running", job.c.leased_until < moment)
        return or_(job.c.status == "pending", expired)

    runnable = [claimable(candidate), candidate.c.available_at <= moment]
    waited_for = [
        earlier.c.conversation_id == candidate.c.conversation_id,
        earlier.c.id < candidate.c.id,
        or_(*(earlier.c.status == status for status in UNFINISHED)),
    ]
    if besides is not None:
        runnable.append(candidate.c.id != besides)
        waited_for.append(earlier.c.id != besides)
    oldest = (
        select(candidate.c.id)
        .where(*runnable, ~exists().where(*waited_for))
        .order_by(candidate.c.id)
        .limit(1)
    )
    if one_conversation:
        oldest = oldest.where(candidate.c.conversation_id == bindparam("conversation"))
    return (
        update(_JOBS)
        .where(_JOBS.c.id == oldest.scalar_subquery(), claimable(_JOBS))
        .values(
            status="running",
            runs=_JOBS.c.runs + 1,
            leased_by=bindparam("owner"),
            leased_until=bindparam("until", type_=_JOBS.c.leased_until.type),
        )
        .returning(*JOB_COLUMNS)
    )


_CLAIM_ANY = Prepared(_claim_statement(one_conversation=False))
_CLAIM_IN_CONVERSATION = Prepared(_claim_statement(one_conversation=True))
JOB_FIELDS = (
    "conversation_id",
    "kind",
    "payload",
    "status",
    "attempts",
    "runs",
    "last_error",
    "failing_since",
    "available_at",
    "created_at",
)
"""The columns a new job is inserted with (``new_job``)."""
_INSERT_JOB = Prepared(insert(_JOBS).returning(_JOBS.c.id), columns=JOB_FIELDS)
_MARK_SENT = (
    update(_MESSAGES)
    .where(_MESSAGES.c.id.in_(bindparam("ids", expanding=True)))
    .values(status="sent")
)
_DELETE_JOB = Prepared(delete(_JOBS).where(_JOBS.c.id == bindparam("job")))
_MARK_ONE_SENT = Prepared(
    update(_MESSAGES).where(_MESSAGES.c.id == bindparam("id")).values(status="sent")
)


def _finish_statement(*, then_claim: bool) -> Any:
    """PostgreSQL: forget a finished job, mark what it delivered sent and, with
    ``then_claim``, lease its conversation's next runnable job, all in one statement.

    ``WITH gone AS (DELETE ...), sent AS (UPDATE messages ... = ANY(:sent)) UPDATE jobs ...
    RETURNING``: the claim reads the statement's snapshot, in which the finished job still
    runs, so it is left out by id (neither taken nor waited for). SQLite has no ``DELETE`` or
    ``UPDATE`` inside ``WITH``.
    """
    job = bindparam("job", type_=_JOBS.c.id.type)
    delivered = bindparam("sent", type_=ARRAY(_MESSAGES.c.id.type))
    sent = (
        update(_MESSAGES).where(_MESSAGES.c.id == any_(delivered)).values(status="sent").cte("sent")
    )
    if not then_claim:
        return delete(_JOBS).where(_JOBS.c.id == job).add_cte(sent)
    gone = delete(_JOBS).where(_JOBS.c.id == job).cte("gone")
    return _claim_statement(one_conversation=True, besides=job).add_cte(gone).add_cte(sent)


_FINISH = {
    then_claim: Prepared(_finish_statement(then_claim=then_claim)) for then_claim in (False, True)
}
_KEY_COLUMNS = ("scope", "key", "created_at")
_REMEMBER = {
    "sqlite": Prepared(sqlite_insert(_KEYS).on_conflict_do_nothing(), columns=_KEY_COLUMNS),
    "postgresql": Prepared(postgresql_insert(_KEYS).on_conflict_do_nothing(), columns=_KEY_COLUMNS),
}


def _mark_sent(connection: Connection, sent: Sequence[str]) -> None:
    """Mark delivered messages sent; one (a reply) by a prepared statement."""
    if len(sent) == 1:
        _MARK_ONE_SENT.execute(connection, {"id": sent[0]})
    elif sent:
        connection.execute(_MARK_SENT, {"ids": list(sent)})


def _now() -> datetime:
    return datetime.now(UTC)


def new_job(
    conversation_id: str,
    kind: str,
    payload: Mapping[str, Any],
    *,
    available_at: datetime | None = None,
    status: str = "pending",
    last_error: str | None = None,
    failing_since: datetime | None = None,
) -> dict[str, Any]:
    """A new job's row (its columns in ``JOB_FIELDS``)."""
    moment = _now()
    return {
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
    }


def job_from_row(row: Any, prefix: str = "") -> Job:
    """A job from a row of ``JOB_COLUMNS`` (labelled ``<prefix><column>``)."""
    return Job(**{column.key: getattr(row, prefix + column.key) for column in JOB_COLUMNS})


def _scheduled(row: Any) -> ScheduledEvent:
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


class WorkQueue(Transactions):
    def __init__(self, engine: AsyncEngine, notifier: Notifier) -> None:
        super().__init__(engine)
        self.notifier = notifier

    # --- idempotency -----------------------------------------------------------------------

    def remember_in(self, connection: Connection, scope: str, key: str) -> bool:
        """True the first time ``(scope, key)`` is seen, in the caller's transaction.

        ``INSERT ... ON CONFLICT DO NOTHING``: a repeat inserts nothing and fails nothing, so
        the caller's transaction needs no savepoint around it.
        """
        result = _REMEMBER[connection.dialect.name].execute(
            connection, {"scope": scope, "key": key, "created_at": _now()}
        )
        return bool(result.rowcount)

    async def remember(self, scope: str, key: str) -> bool:
        return await self._write(lambda connection: self.remember_in(connection, scope, key))

    async def forget_before(self, scope: str, moment: datetime) -> int:
        """Drop the keys of ``scope`` remembered before ``moment``; how many went."""
        statement = delete(_KEYS).where(_KEYS.c.scope == scope, _KEYS.c.created_at < moment)
        return await self._write(lambda connection: connection.execute(statement).rowcount)

    # --- effects ---------------------------------------------------------------------------

    async def recorded_effect(self, key: str) -> dict[str, Any] | None:
        """What the step ``key`` of a job returned when it ran before, if it finished."""
        statement = select(_EFFECTS.c.result).where(_EFFECTS.c.key == key)
        found: dict[str, Any] | None = await self._read(
            lambda connection: connection.scalar(statement)
        )
        return found

    async def record_effect(self, key: str, result: Mapping[str, Any]) -> None:
        """Keep a finished step's result; a second record of one key keeps the first."""
        statement = insert(_EFFECTS).values(key=key, result=dict(result), created_at=_now())
        try:
            await self._write(lambda connection: connection.execute(statement))
        except IntegrityError:
            return

    async def forget_effects(self, root: str) -> None:
        """Drop the recorded steps of a finished job (their keys start with ``root:``)."""
        statement = delete(_EFFECTS).where(_EFFECTS.c.key.startswith(f"{root}:"))
        await self._write(lambda connection: connection.execute(statement))

    # --- jobs ------------------------------------------------------------------------------

    def enqueue_in(self, connection: Connection, job: Mapping[str, Any]) -> int:
        """Queue a job (a ``new_job`` row) in the caller's transaction; its id."""
        job_id = _INSERT_JOB.execute(connection, job).scalar()
        assert job_id is not None
        return int(job_id)

    async def enqueue(self, conversation_id: str, kind: str, payload: Mapping[str, Any]) -> Job:
        def body(connection: Connection) -> int:
            job_id = self.enqueue_in(connection, new_job(conversation_id, kind, payload))
            self.notifier.in_transaction(connection, WORK)
            return job_id

        job_id = await self._write(body)
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
        return await self._write(
            lambda connection: self._claim_in(connection, owner, lease, conversation_id)
        )

    def _claim_in(
        self, connection: Connection, owner: str, lease: timedelta, conversation_id: str | None
    ) -> Job | None:
        statement = _CLAIM_ANY if conversation_id is None else _CLAIM_IN_CONVERSATION
        parameters = self._claim_parameters(owner, lease, conversation_id)
        return self._claimed(connection, statement, parameters)

    @staticmethod
    def _claim_parameters(
        owner: str, lease: timedelta, conversation_id: str | None
    ) -> dict[str, Any]:
        moment = _now()
        parameters: dict[str, Any] = {"moment": moment, "owner": owner, "until": moment + lease}
        if conversation_id is not None:
            parameters["conversation"] = conversation_id
        return parameters

    def _claimed(
        self, connection: Connection, statement: Prepared, parameters: Mapping[str, Any]
    ) -> Job | None:
        """Run a claiming statement; the job it leased, with its subject, or None."""
        row = statement.execute(connection, parameters).first()
        return None if row is None else self._with_subject(connection, job_from_row(row))

    def _with_subject(self, connection: Connection, job: Job) -> Job:
        """The job with what it is about attached (the store adds a message job's message)."""
        return job

    async def renew_leases(self, owner: str, *, lease: timedelta) -> int:
        """Extend the leases of every job ``owner`` is running (its heartbeat); how many."""
        statement = (
            update(_JOBS)
            .where(_JOBS.c.leased_by == owner, _JOBS.c.status == "running")
            .values(leased_until=_now() + lease)
        )
        return await self._write(lambda connection: connection.execute(statement).rowcount)

    async def complete_job(
        self,
        job: Job,
        *,
        sent: Sequence[str] = (),
        then_claim: tuple[str, timedelta] | None = None,
    ) -> Job | None:
        """Forget a finished job and mark the messages it delivered as sent, atomically (one
        transaction on SQLite, one statement on PostgreSQL).

        With ``then_claim=(owner, lease)`` the same change claims the conversation's next
        runnable job, which is returned: a busy conversation flows without a claim of its own.
        The queue holds only unfinished and failed work, so a claim costs the same after a
        million messages as after ten.
        """

        def in_one_statement(connection: Connection) -> Job | None:  # PostgreSQL
            finished = {"job": job.id, "sent": list(sent)}
            if then_claim is None:
                _FINISH[False].execute(connection, finished)
                return None
            claim = self._claim_parameters(*then_claim, job.conversation_id)
            return self._claimed(connection, _FINISH[True], {**claim, **finished})

        def in_transaction(connection: Connection) -> Job | None:  # SQLite
            _mark_sent(connection, sent)
            _DELETE_JOB.execute(connection, {"job": job.id})
            if then_claim is None:
                return None
            return self._claim_in(connection, *then_claim, job.conversation_id)

        if self.engine.dialect.name == "postgresql":
            return await self._write_one(in_one_statement)
        return await self._write(in_transaction)

    async def fail_job(
        self, job_id: int, error: str, *, retry_at: datetime | None, sent: Sequence[str] = ()
    ) -> None:
        """Record a failure: retried at ``retry_at``, or given up for good when it is None.

        ``sent`` are the messages the run delivered before it failed (marked sent).
        """
        moment = _now()
        statement = (
            update(_JOBS)
            .where(_JOBS.c.id == job_id)
            .values(
                status="pending" if retry_at is not None else "failed",
                attempts=_JOBS.c.attempts + 1,
                last_error=error[:4000],
                available_at=retry_at or moment,
                failing_since=func.coalesce(_JOBS.c.failing_since, moment),
                leased_by=None,
                leased_until=None,
            )
        )

        def body(connection: Connection) -> None:
            _mark_sent(connection, sent)
            connection.execute(statement)

        await self._write(body)

    async def jobs(
        self,
        *,
        statuses: Sequence[str] = ("pending", "running", "failed"),
        conversation_id: str | None = None,
        limit: int = 500,
    ) -> list[Job]:
        """Jobs in these states, oldest first (what ``patchwire jobs`` shows an operator)."""
        query = (
            select(*JOB_COLUMNS)
            .where(_JOBS.c.status.in_(list(statuses)))
            .order_by(_JOBS.c.id)
            .limit(limit)
        )
        if conversation_id is not None:
            query = query.where(_JOBS.c.conversation_id == conversation_id)
        return await self._read(
            lambda connection: [job_from_row(row) for row in connection.execute(query)]
        )

    async def failed_jobs(self, conversation_id: str | None = None) -> list[tuple[Job, str]]:
        """Jobs given up on, with their last error."""
        found = await self.jobs(statuses=("failed",), conversation_id=conversation_id)
        return [(job, job.last_error or "") for job in found]

    async def retry_job(self, job_id: int) -> bool:
        """Run a failed job again now (its recorded effects are replayed, not repeated)."""
        statement = (
            update(_JOBS)
            .where(_JOBS.c.id == job_id, _JOBS.c.status == "failed")
            .values(status="pending", available_at=_now(), failing_since=None)
        )

        def body(connection: Connection) -> bool:
            if not connection.execute(statement).rowcount:
                return False
            self.notifier.in_transaction(connection, WORK)
            return True

        retried = await self._write(body)
        if retried:
            self.notifier.local(WORK)
        return retried

    async def discard_job(self, job_id: int) -> bool:
        """Drop a failed or waiting job for good; False when it is running or unknown.

        Dropping a conversation's waiting delivery gives up on every message it holds (they
        become ``failed``), so later messages of the conversation go out again.
        """

        def body(connection: Connection) -> bool:
            job = connection.execute(
                delete(_JOBS)
                .where(_JOBS.c.id == job_id, _JOBS.c.status != "running")
                .returning(_JOBS.c.kind, _JOBS.c.conversation_id, _JOBS.c.status)
            ).first()
            if job is None:
                return False
            if job.kind == "deliver" and job.status == "pending":
                connection.execute(
                    update(_MESSAGES)
                    .where(
                        _MESSAGES.c.conversation_id == job.conversation_id,
                        _MESSAGES.c.status == "queued",
                    )
                    .values(status="failed")
                )
                connection.execute(
                    update(_CONVERSATIONS)
                    .where(_CONVERSATIONS.c.id == job.conversation_id)
                    .values(undelivered=0)
                )
            return True

        return await self._write(body)

    async def next_wakeup(self, owner: str) -> datetime | None:
        """When work may next become runnable without anybody saying so, or None.

        The earliest of: a pending job's ``available_at``, a pending scheduled event's due
        time, and the lease end of a job another worker holds (it may have died). An idle
        worker sleeps until then instead of polling.
        """
        pending = select(func.min(_JOBS.c.available_at)).where(_JOBS.c.status == "pending")
        leases = select(func.min(_JOBS.c.leased_until)).where(
            _JOBS.c.status == "running", _JOBS.c.leased_by != owner
        )
        timers = select(func.min(_SCHEDULED.c.due_at)).where(_SCHEDULED.c.status == "pending")
        statement = select(
            pending.scalar_subquery(), leases.scalar_subquery(), timers.scalar_subquery()
        )
        row = await self._read(lambda connection: connection.execute(statement).one())
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
        event = ScheduledEvent(
            id=uuid.uuid4().hex,
            type=type,
            source=source,
            payload=dict(payload),
            conversation_id=conversation_id,
            user_id=user_id,
            due_at=due_at,
            status="pending",
        )
        statement = insert(_SCHEDULED).values(
            id=event.id,
            type=type,
            source=source,
            payload=event.payload,
            conversation_id=conversation_id,
            user_id=user_id,
            due_at=due_at,
            status="pending",
            effect_key=effect_key,
            created_at=_now(),
        )

        def body(connection: Connection) -> None:
            connection.execute(statement)
            self.notifier.in_transaction(connection, WORK, due_at.isoformat())

        try:
            await self._write(body)
        except IntegrityError:
            existing = await self._read(
                lambda connection: connection.execute(
                    select(_SCHEDULED).where(_SCHEDULED.c.effect_key == effect_key)
                ).first()
            )
            if existing is None:
                raise
            return _scheduled(existing)
        self.notifier.local(WORK, due_at.isoformat())
        return event

    async def cancel_scheduled(self, event_id: str) -> bool:
        """Cancel a pending event; False when it already fired or was cancelled."""
        statement = (
            update(_SCHEDULED)
            .where(_SCHEDULED.c.id == event_id, _SCHEDULED.c.status == "pending")
            .values(status="cancelled")
        )
        return await self._write(lambda connection: bool(connection.execute(statement).rowcount))

    async def get_scheduled(self, event_id: str) -> ScheduledEvent | None:
        statement = select(_SCHEDULED).where(_SCHEDULED.c.id == event_id)
        row = await self._read(lambda connection: connection.execute(statement).first())
        return None if row is None else _scheduled(row)

    async def fire_due(self, owner: str, *, limit: int = 100) -> list[ScheduledEvent]:
        """Fire due events exactly once: each is marked fired and its job enqueued atomically.

        Events without a conversation go to the agent-wide queue (:data:`AGENT_QUEUE`).
        """
        moment = _now()
        due_query = (
            select(_SCHEDULED.c.id)
            .where(_SCHEDULED.c.status == "pending", _SCHEDULED.c.due_at <= moment)
            .order_by(_SCHEDULED.c.due_at)
            .limit(limit)
        )
        due = await self._read(lambda connection: list(connection.scalars(due_query)))

        def fire(connection: Connection, *, event_id: str) -> ScheduledEvent | None:
            row = connection.execute(
                update(_SCHEDULED)
                .where(_SCHEDULED.c.id == event_id, _SCHEDULED.c.status == "pending")
                .values(status="fired", claimed_by=owner, claimed_until=moment)
                .returning(*_SCHEDULED.c)
            ).first()
            if row is None:
                return None
            event = _scheduled(row)
            queue = event.conversation_id or AGENT_QUEUE
            self.enqueue_in(
                connection, new_job(queue, "scheduled", {"scheduled_event_id": event.id})
            )
            self.notifier.in_transaction(connection, WORK)
            return event

        fired: list[ScheduledEvent] = []
        for event_id in due:
            event = await self._write(functools.partial(fire, event_id=event_id))
            if event is not None:
                fired.append(event)
        if fired:
            self.notifier.local(WORK)
        return fired


def _aware(value: datetime) -> datetime:
    """Subquery results skip the column type on SQLite: make them aware UTC datetimes."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
