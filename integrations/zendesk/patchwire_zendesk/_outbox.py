"""Per-ticket delivery: updates go out one at a time, in order; a throttled backlog is merged.

Zendesk allows about 30 updates per ticket per user in 10 minutes, so a chatty user hits 429
on *that* ticket. Rather than drop or reorder, the messages that queue up while the ticket is
throttled are sent, after ``Retry-After``, as one comment per run of one author. A sender
waits for its own update in the normal case and returns as soon as its message is queued
behind a throttle, so the pipeline never stalls on one busy ticket.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from patchwire_zendesk._client import ZendeskClient
from patchwire_zendesk._errors import ThrottledError, TicketGoneError

__all__ = ["MAX_BODY_CHARACTERS", "Comment", "Outboxes", "TicketOutbox", "merge"]

logger = logging.getLogger("patchwire.zendesk")

MAX_BODY_CHARACTERS = 60_000
"""A merged comment stays below Zendesk's comment size limit (64 KB)."""

GoneCallback = Callable[[str], Awaitable[None]]


@dataclass
class Comment:
    """A public comment to add: its text, its author (None: the API user) and upload tokens."""

    body: str
    author_id: int | None = None
    uploads: list[str] = field(default_factory=list)


@dataclass
class _Item:
    comment: Comment | None
    status: str | None
    done: asyncio.Future[bool]


@dataclass
class Update:
    """One ``PUT /tickets/{id}``: at most one comment, then possibly a status."""

    comment: Comment | None
    status: str | None
    items: list[_Item] = field(default_factory=list)

    def fields(self) -> dict[str, Any]:
        fields: dict[str, Any] = {}
        if self.comment is not None:
            comment: dict[str, Any] = {"body": self.comment.body, "public": True}
            if self.comment.author_id is not None:
                comment["author_id"] = self.comment.author_id
            if self.comment.uploads:
                comment["uploads"] = list(self.comment.uploads)
            fields["comment"] = comment
        if self.status is not None:
            fields["status"] = self.status
        return fields

    def takes(self, item: _Item) -> bool:
        if self.status is not None:
            return False  # nothing may jump ahead of a status change
        if item.comment is None or self.comment is None:
            return True
        return (
            item.comment.author_id == self.comment.author_id
            and len(self.comment.body) + len(item.comment.body) + 2 <= MAX_BODY_CHARACTERS
        )

    def add(self, item: _Item) -> None:
        if item.comment is not None:
            if self.comment is None:
                self.comment = Comment(
                    item.comment.body, item.comment.author_id, list(item.comment.uploads)
                )
            else:
                self.comment.body = f"{self.comment.body}\n\n{item.comment.body}"
                self.comment.uploads.extend(item.comment.uploads)
        if item.status is not None:
            self.status = item.status
        self.items.append(item)


def merge(items: list[_Item]) -> list[Update]:
    """Fewest updates that keep the order: runs of one author's comments join into one."""
    updates: list[Update] = []
    for item in items:
        if not updates or not updates[-1].takes(item):
            updates.append(Update(None, None))
        updates[-1].add(item)
    return updates


class TicketOutbox:
    """The queue of one ticket, drained by one task at a time."""

    def __init__(self, client: ZendeskClient, ticket_id: str, on_gone: GoneCallback) -> None:
        self.client = client
        self.ticket_id = ticket_id
        self._on_gone = on_gone
        self._pending: list[_Item] = []
        self._throttled_until = 0.0
        self._merging = False
        self._worker: asyncio.Task[None] | None = None
        self.updates_sent = 0
        self.throttled = 0

    @property
    def busy(self) -> bool:
        return self._worker is not None and not self._worker.done()

    def _now(self) -> float:
        return asyncio.get_running_loop().time()

    async def submit(self, comment: Comment | None = None, status: str | None = None) -> bool:
        """True once delivered; False when queued behind a throttle (delivered later)."""
        item = _Item(comment, status, asyncio.get_running_loop().create_future())
        self._pending.append(item)
        if self._merging:
            item.done.set_result(False)
        if not self.busy:
            self._worker = asyncio.create_task(self._run(), name=f"zendesk-ticket-{self.ticket_id}")
        return await asyncio.shield(item.done)

    async def drain(self) -> None:
        """Wait until everything queued was delivered (or given up on)."""
        while self.busy:
            assert self._worker is not None
            with contextlib.suppress(Exception):
                await asyncio.shield(self._worker)

    async def _run(self) -> None:
        while self._pending:
            wait = self._throttled_until - self._now()
            if wait > 0:
                await asyncio.sleep(wait)
            batch = list(self._pending) if self._merging else self._pending[:1]
            updates = merge(batch)
            for update in updates:
                if not await self._deliver(update):
                    break
            else:
                if self._merging and not self._pending:
                    self._merging = False

    async def _deliver(self, update: Update) -> bool:
        """Send one update; False when the rest of the batch must wait (throttled, gone)."""
        try:
            await self.client.update_ticket(
                self.ticket_id, update.fields(), wait_when_throttled=False
            )
        except ThrottledError as error:
            self.throttled += 1
            self._throttled_until = self._now() + error.retry_after
            self._merging = True
            for item in self._pending:
                if not item.done.done():
                    item.done.set_result(False)
            return False
        except TicketGoneError as error:
            pending, self._pending = self._pending, []
            self._merging = False
            for item in pending:
                _fail(item, error)
            await self._on_gone(self.ticket_id)
            return False
        except Exception as error:
            self._remove(update)
            for item in update.items:
                _fail(item, error)
            return True
        self.updates_sent += 1
        self._remove(update)
        for item in update.items:
            if not item.done.done():
                item.done.set_result(True)
        return True

    def _remove(self, update: Update) -> None:
        sent = {id(item) for item in update.items}
        self._pending = [item for item in self._pending if id(item) not in sent]


def _fail(item: _Item, error: Exception) -> None:
    if not item.done.done():
        item.done.set_exception(error)
    else:  # its sender had already returned (queued behind a throttle): only the log knows
        logger.warning("a queued Zendesk comment could not be delivered: %s", error)


class Outboxes:
    """The outboxes of one integration alias, by ticket id."""

    def __init__(self, client: ZendeskClient, on_gone: GoneCallback) -> None:
        self.client = client
        self._on_gone = on_gone
        self._boxes: dict[str, TicketOutbox] = {}

    def __call__(self, ticket_id: str) -> TicketOutbox:
        box = self._boxes.get(ticket_id)
        if box is None:
            box = self._boxes[ticket_id] = TicketOutbox(self.client, ticket_id, self._on_gone)
        return box

    async def drain(self) -> None:
        """Wait for every ticket's backlog (tests, benchmarks, shutdown)."""
        for box in list(self._boxes.values()):
            await box.drain()
