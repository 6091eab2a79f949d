"""Counts for the operator's gauges (``/metrics``), read at scrape time, never per message."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select

from patchwire.store._store import Store, TagKind
from patchwire.store._tables import JobRow, TagRow

__all__ = ["job_counts", "oldest_waiting_job", "tag_value_counts"]


async def job_counts(store: Store) -> dict[str, int]:
    """Unfinished jobs by status: ``pending`` (queued), ``running``, ``failed`` (kept)."""
    async with store.sessions() as session:
        rows = await session.execute(select(JobRow.status, func.count()).group_by(JobRow.status))
        return {str(status): int(count) for status, count in rows}


async def oldest_waiting_job(store: Store) -> datetime | None:
    """When the oldest job that is queued or running was queued; None when there is none."""
    async with store.sessions() as session:
        oldest: datetime | None = await session.scalar(
            select(func.min(JobRow.created_at)).where(JobRow.status.in_(["pending", "running"]))
        )
    return oldest


async def tag_value_counts(store: Store, kind: TagKind, key: str) -> dict[str, int]:
    """How many records of ``kind`` carry the tag ``key``, by its value (one grouped query)."""
    async with store.sessions() as session:
        rows = await session.execute(
            select(TagRow.value, func.count())
            .where(TagRow.kind == kind, TagRow.key == key)
            .group_by(TagRow.value)
        )
        return {str(value): int(count) for value, count in rows}
