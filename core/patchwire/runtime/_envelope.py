"""The conversation and author a message job loaded with its message, lent to its hooks.

A message job's claim reads the message with its conversation and author in one statement.
Hooks and handlers then ask for them again by id (``ctx.get_conversation(message.conversation_id)``,
``ctx.get_user(message.user_id)``): within the job those reads are answered from what the claim
loaded, and a change made through a context during the job replaces the loaded record, so no
hook sees one older than its own change.

Only the job's own task borrows them: a task started during the job (a handler's background
work, another job handed to this worker) inherits the context variable but not the loan, so
it can never read a record the job lent after the job moved on.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from contextvars import ContextVar
from typing import Literal, TypeAlias

from patchwire.store import Conversation, User

__all__ = ["carrying", "lent", "renew"]

Kind: TypeAlias = Literal["conversation", "user"]

Loan: TypeAlias = tuple["asyncio.Task[object] | None", dict[tuple[Kind, str], Conversation | User]]

_loaded: ContextVar[Loan | None] = ContextVar("patchwire_envelope", default=None)


@contextlib.contextmanager
def carrying(conversation: Conversation, user: User | None) -> Iterator[None]:
    """Lend ``conversation`` and ``user`` to every read by id in this block."""
    records: dict[tuple[Kind, str], Conversation | User] = {
        ("conversation", conversation.id): conversation
    }
    if user is not None:
        records["user", user.id] = user
    token = _loaded.set((asyncio.current_task(), records))
    try:
        yield
    finally:
        _loaded.reset(token)


def _records() -> dict[tuple[Kind, str], Conversation | User] | None:
    loan = _loaded.get()
    if loan is None or loan[0] is not asyncio.current_task():
        return None
    return loan[1]


def lent(kind: Kind, record_id: str) -> Conversation | User | None:
    """The record the running job loaded under this id, if any."""
    records = _records()
    return None if records is None else records.get((kind, record_id))


def renew(kind: Kind, record: Conversation | User) -> None:
    """A record changed during the job: later reads get this version."""
    records = _records()
    if records is not None and (kind, record.id) in records:
        records[kind, record.id] = record
