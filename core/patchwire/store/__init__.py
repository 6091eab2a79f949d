"""Durable storage for the runtime: SQLite by default, PostgreSQL for several processes."""

from patchwire.store._engine import create_engine, normalise_url
from patchwire.store._records import (
    Conversation,
    Direction,
    Event,
    Job,
    Message,
    MessagePage,
    Participant,
    ScheduledEvent,
    User,
)
from patchwire.store._store import NotFoundError, StateScope, Store, TagKind

__all__ = [
    "Conversation",
    "Direction",
    "Event",
    "Job",
    "Message",
    "MessagePage",
    "NotFoundError",
    "Participant",
    "ScheduledEvent",
    "StateScope",
    "Store",
    "TagKind",
    "User",
    "create_engine",
    "normalise_url",
]
