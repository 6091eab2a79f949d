"""The runtime's own metrics: messages in and out, pipeline latency, calls out, the job queue.

Per message this is a few in-memory counter and histogram updates and never a query: the job
queue's gauges are read from the store when ``/metrics`` is scraped.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from patchwire._packages import Integration, Plugin
from patchwire.metrics import Metrics
from patchwire.retries import transient
from patchwire.store import Job, Store
from patchwire.store._stats import job_counts, oldest_waiting_job

if TYPE_CHECKING:
    from patchwire.runtime._runtime import Runtime

__all__ = ["JOB_STATUSES", "Instruments", "setup_package_metrics"]

JOB_STATUSES = ("pending", "running", "failed")

PIPELINE_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)

_Call = TypeVar("_Call", bound=Callable[..., Awaitable[Any]])


class Instruments:
    """What the runtime counts, on the agent's :class:`~patchwire.metrics.Metrics`."""

    def __init__(self, metrics: Metrics, store: Store) -> None:
        self._store = store
        self.received = metrics.counter(
            "patchwire_messages_received",
            "Incoming messages stored, by integration alias.",
            ["integration"],
        )
        self.sent = metrics.counter(
            "patchwire_messages_sent",
            "Outgoing messages stored (then delivered or queued), by integration alias.",
            ["integration"],
        )
        self.calls = metrics.counter(
            "patchwire_outgoing_calls",
            "Calls to outside systems (message senders, integration actions) by outcome: "
            "ok, unavailable (down or throttling: retried later) or failed.",
            ["integration", "call", "status"],
        )
        self.pipeline = metrics.histogram(
            "patchwire_pipeline_seconds",
            "From an incoming message stored to its job done (hooks and handlers run, "
            "replies handed to their integrations).",
            buckets=PIPELINE_BUCKETS,
        )
        metrics.gauge(
            "patchwire_jobs",
            "Jobs not done, by status: pending (queued), running, failed (kept for the "
            "operator: patchwire jobs).",
            ["status"],
            self._jobs,
        )
        metrics.gauge(
            "patchwire_oldest_job_age_seconds",
            "How long the oldest queued or running job has waited (0 when there is none).",
            [],
            self._oldest,
        )

    def handled(self, job: Job) -> None:
        """A job finished: a message job's time since its message was stored."""
        if job.kind == "message" and job.subject is not None:
            waited = datetime.now(UTC) - job.subject[0].created_at
            self.pipeline.observe(waited.total_seconds())

    def counted(self, integration: str, call: str, send: _Call) -> _Call:
        """``send`` (a sender or an integration action) counting its outcomes."""
        calls = self.calls

        async def counted(*args: Any, **kwargs: Any) -> Any:
            try:
                result = await send(*args, **kwargs)
            except Exception as error:
                status = "unavailable" if transient(error) is not None else "failed"
                calls.labels(integration, call, status).inc()
                raise
            calls.labels(integration, call, "ok").inc()
            return result

        return counted  # type: ignore[return-value]

    async def _jobs(self) -> Mapping[tuple[str, ...], float]:
        counts = await job_counts(self._store)
        return {(status,): float(counts.get(status, 0)) for status in JOB_STATUSES}

    async def _oldest(self) -> Mapping[tuple[str, ...], float]:
        oldest = await oldest_waiting_job(self._store)
        age = 0.0 if oldest is None else (datetime.now(UTC) - oldest).total_seconds()
        return {(): max(age, 0.0)}


def setup_package_metrics(runtime: Runtime) -> None:
    """Call each package's ``@<package>.metrics`` setup once per alias, with its context."""
    kinds: tuple[Literal["integration", "plugin"], ...] = ("integration", "plugin")
    for kind in kinds:
        configured = runtime.agent.integrations if kind == "integration" else runtime.agent.plugins
        for alias, resolved in configured.items():
            package = resolved.package
            if isinstance(package, Integration | Plugin) and package.metrics_setup is not None:
                package.metrics_setup(runtime.context(alias, kind))
