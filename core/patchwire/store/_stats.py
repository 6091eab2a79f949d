"""Counts for the operator's gauges (``/metrics``), read at scrape time, never per message."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select

from patchwire.store._store import Store, TagKind
from patchwire.store._tables import JobRow, TagRow, table

__all__ = ["job_counts", "oldest_waiting_job", "tag_value_counts"]

_JOBS = table(JobRow)
_TAGS = table(TagRow)


async def job_counts(store: Store) -> dict[str, int]:
    """Unfinished jobs by status: ``pending`` (queued), ``running``, ``failed`` (kept)."""
    statement = select(_JOBS.c.status, func.count()).group_by(_JOBS.c.status)
    rows = await store._read(lambda connection: connection.execute(statement).all())
    return {str(status): int(count) for status, count in rows}


async def oldest_waiting_job(store: Store) -> datetime | None:
    """When the oldest job that is queued or running was queued; None when there is none."""
    statement = select(func.min(_JOBS.c.created_at)).where(
        _JOBS.c.status.in_(["pending", "running"])
    )
    oldest: datetime | None = await store._read(lambda connection: connection.scalar(statement))
    return oldest


async def tag_value_counts(store: Store, kind: TagKind, key: str) -> dict[str, int]:
    """How many records of ``kind`` carry the tag ``key``, by its value (one grouped query)."""
    statement = (
        select(_TAGS.c.value, func.count())
        .where(_TAGS.c.kind == kind, _TAGS.c.key == key)
        .group_by(_TAGS.c.value)
    )
    rows = await store._read(lambda connection: connection.execute(statement).all())
    return {str(value): int(count) for value, count in rows}
