"""Steps: the identity of every effect a job has, so a job that runs again repeats none.

While the runtime processes a job, each effect the job's code causes (an outgoing message, an
action call, an emitted or scheduled event) takes the next *step key* of that job for its kind:
``<root>:message/2`` is the job's second outgoing message, ``<root>:hitl.start_hitl#<digest>/1``
its first call of that action with that input, and ``...>hitl.create_user#<digest>/1`` what
that action did in turn. Counting per kind (and, for actions, per input) keeps a step's key
when a run takes another path elsewhere: an action that skips a call the first run made,
because state changed in between, does not shift the keys of the calls after it. The root is
the id of the message or event the job is for, so keys are unique across agents and stable
across runs.

A job's first run records each effect under its key in a transaction the effect has anyway
(the message row, the event row, the timer row); only an action's result costs a write of its
own. When the job runs again (its process died, or the store failed under it), each effect
first looks for its key and returns what the earlier run did instead of doing it twice.

This is what a durable-execution library (DBOS Transact, Temporal) calls a step; we keep it in
our own store because every record rides in a transaction the pipeline already makes and the
zero-setup SQLite default keeps working (see docs/architecture.md).
"""

from __future__ import annotations

import contextlib
import hashlib
import uuid
from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import dataclass, field

__all__ = ["JobRun", "Step", "current_step", "idempotency_key", "running"]


@dataclass
class JobRun:
    """One run of one job: what later steps and the job's completion need to know."""

    root: str
    replaying: bool
    """True when an earlier run of this job may have done some of its effects."""
    sent: list[str] = field(default_factory=list)
    """Messages delivered during the run; marked sent when the job completes."""
    recorded: bool = False
    """Whether an action result was recorded (dropped again when the job completes)."""


KEY_LENGTH = 200
"""The ``effect_key`` columns' length: a deeper key is shortened to a digest of itself."""


@dataclass
class Step:
    """The position of the running code inside its job."""

    run: JobRun
    key: str
    _counts: dict[str, int] = field(default_factory=dict)

    def next_key(self, kind: str) -> str:
        """The key of the next effect of ``kind`` (``message``, ``event:<type>``, an action's
        qualified name, ...) at this level."""
        count = self._counts[kind] = self._counts.get(kind, 0) + 1
        separator = ":" if self.key == self.run.root else ">"
        key = f"{self.key}{separator}{kind}/{count}"
        if len(key) > KEY_LENGTH:
            key = f"{self.run.root}:{hashlib.sha256(key.encode()).hexdigest()}"
        return key

    def inside(self, key: str) -> Step:
        """The step of code running inside the effect ``key`` (an action's body)."""
        return Step(self.run, key)


_current: ContextVar[Step | None] = ContextVar("patchwire_step", default=None)


def current_step() -> Step | None:
    """The step of the job being processed in this task, or None outside any job."""
    return _current.get()


@contextlib.contextmanager
def running(step: Step) -> Iterator[Step]:
    """Make ``step`` current for the code in the block."""
    token = _current.set(step)
    try:
        yield step
    finally:
        _current.reset(token)


def idempotency_key(name: str = "") -> str:
    """A key for an outgoing call, stable across runs of the current step.

    Inside a job it is the step's key (plus ``name``, for a step that makes several calls);
    outside any job, a new random key each time.
    """
    step = current_step()
    base = step.key if step is not None else uuid.uuid4().hex
    return f"{base}/{name}" if name else base
