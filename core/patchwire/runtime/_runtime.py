"""The running agent: bound packages, the durable pipeline and its failure policy.

Incoming messages and events are stored and queued by the store in one transaction, then
processed here: each conversation's jobs one at a time in arrival order (across processes, by
the store's job leases, renewed by a heartbeat while a job runs), different conversations in
parallel. What a job's code does outside (messages, action calls, events, timers) is keyed by
its step (``_steps.py``), so a job that runs again after a crash or a database failure repeats
none of it. What fails is handled by kind:

- the database failing under a job: the job runs again, with backoff, replaying its steps;
- an outside system down while a message goes out: the message waits in its conversation's
  queue and is retried for hours (``_outbox.py``); the job itself goes on;
- agent, plugin or integration code raising: the handler is *not* run again; the user gets the
  ``[runtime] error_text`` once, and the job is kept as failed for the operator
  (``patchwire jobs``), with its traceback.

An idle runtime runs no queries: it sleeps until the earliest moment work can become due (a
timer, a retry, a lease of another worker ending), or until the store says new work was queued
(in this process, or through PostgreSQL ``NOTIFY`` from another one).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import math
import os
import socket
import traceback
import uuid
from collections import Counter, OrderedDict
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import sqlalchemy.exc
from pydantic import BaseModel
from pydantic_core import to_jsonable_python

from patchwire._binding import plugin_actions
from patchwire._config import RuntimeSettings
from patchwire._definitions import ActionDefinition, ChannelDefinition
from patchwire._errors import PatchwireError, ReportedError
from patchwire._logs import log_conversation
from patchwire._packages import EventSender, Integration, Plugin
from patchwire._proxies import ActionCall, Actions, Namespace, bind_action
from patchwire._resolved import ResolvedAgent, ResolvedPlugin
from patchwire.metrics import Metrics
from patchwire.runtime._context import Context, MessageError, validate_message
from patchwire.runtime._conversation import AgentCode
from patchwire.runtime._envelope import carrying
from patchwire.runtime._hooks import STOP, HookRunner, OutgoingMessage
from patchwire.runtime._instruments import Instruments, setup_package_metrics
from patchwire.runtime._message_context import EventContext, MessageContext
from patchwire.runtime._outbox import DeliveryError, Outbox, RetryLater
from patchwire.runtime._responder import Responder
from patchwire.runtime._steps import JobRun, Step, current_step, running
from patchwire.store import Conversation, Event, Job, Message, NotFoundError, Store, User
from patchwire.store._notify import WORK

__all__ = ["DeliveryError", "NotRunnableError", "Runtime"]

logger = logging.getLogger("patchwire.runtime")

JOB_LEASE = timedelta(seconds=10)
"""A running job's lease; the heartbeat renews it, so only a dead worker's job outlives it."""
HEARTBEAT_SECONDS = 2.0
PLACES_KEPT = 10_000
"""Conversations whose integration and channel the runtime remembers (least recent go)."""
RECHECK_SECONDS = 60.0
"""On PostgreSQL an idle worker looks once a minute for work that nobody announced (a job of
a worker that died after this one last looked); SQLite has no other worker."""


class NotRunnableError(PatchwireError):
    """A configured package ships a definition only and cannot run."""


class Runtime:
    """One agent running on one store; create it with :meth:`start`."""

    def __init__(
        self,
        agent: ResolvedAgent,
        *,
        store: Store,
        code: AgentCode | None,
        worker_id: str,
        concurrency: int,
        settings: RuntimeSettings,
    ) -> None:
        self.agent = agent
        self.store = store
        self.code = code or AgentCode(path=None, conversations=())
        self.worker_id = worker_id
        self.settings = settings
        self.responder = Responder(agent.model)
        """``ctx.execute``'s model: one client for the agent, closed by :meth:`stop`."""
        self.hooks = HookRunner()
        self.metrics = Metrics()
        self.instruments = Instruments(self.metrics, store)
        self.outbox = Outbox(self)
        self._concurrency = concurrency
        self._integrations: dict[str, Integration] = {}
        self._contexts: dict[str, dict[str, Context]] = {"integration": {}, "plugin": {}}
        self._places: OrderedDict[str, tuple[str, str]] = OrderedDict()
        self._wake = asyncio.Event()
        self._wanted = math.inf
        """How many claims the next poll may try: one per job announced in this process, no
        limit after a timer, a notification from elsewhere or a full loop freeing up. So a
        message costs one claim, not one more that finds nothing."""
        self._saturated = False
        self._missed = False
        self._listening = asyncio.Event()
        self._running = False
        """Whether ``run_background`` runs (and may be handed jobs claimed elsewhere)."""
        self._due = 0.0
        """Loop time at which timers, retries and others' leases must be looked at again."""
        self._recheck = True
        """Whether the next idle moment asks the store when work falls due next."""
        self._tasks: set[asyncio.Task[None]] = set()
        self._active: Counter[str | None] = Counter()
        """Conversations with a task here (its chain claims their next jobs as each ends)."""
        self._behind: set[str | None] = set()
        """Conversations given a job behind the one running here, neither claimed nor
        announced: the running chain's next claim finds it, or its end wakes a claim."""
        self._on_shutdown: list[Callable[[], None]] = []
        self.integrations = Namespace("integration", {})
        self.plugins = Namespace("plugin", {})

    @classmethod
    async def start(
        cls,
        agent: ResolvedAgent,
        *,
        store: Store,
        code: AgentCode | None = None,
        worker_id: str | None = None,
        concurrency: int = 32,
        settings: RuntimeSettings | None = None,
    ) -> Runtime:
        runtime = cls(
            agent,
            store=store,
            code=code,
            concurrency=concurrency,
            settings=settings or agent.runtime,
            worker_id=worker_id or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}",
        )
        runtime._bind()
        return runtime

    # --- binding ---------------------------------------------------------------------------

    def _bind(self) -> None:
        integration_actions: dict[str, Actions] = {}
        for alias, resolved in self.agent.integrations.items():
            package = resolved.package
            if not isinstance(package, Integration):
                raise NotRunnableError(_not_runnable("integration", alias, resolved.record.pin))
            ctx = Context(
                self,
                alias=alias,
                kind="integration",
                configuration=resolved.config,
                events=package.definition.all_events,
            )
            self._integrations[alias] = package
            self._contexts["integration"][alias] = ctx
            integration_actions[alias] = _actions(
                alias, package, package.definition.all_actions, ctx, self.instruments
            )
        self.integrations = Namespace("integration", integration_actions)
        plugin_actions: dict[str, Actions] = {}
        for alias, plugin in self.agent.plugins.items():
            plugin_actions[alias] = self._bind_plugin(alias, plugin, integration_actions)
        self.plugins = Namespace("plugin", plugin_actions)
        setup_package_metrics(self)

    def _bind_plugin(
        self, alias: str, resolved: ResolvedPlugin, integration_actions: dict[str, Actions]
    ) -> Actions:
        package = resolved.package
        if not isinstance(package, Plugin):
            raise NotRunnableError(_not_runnable("plugin", alias, resolved.record.pin))
        interfaces: dict[str, Actions] = {}
        for requirement, binding in resolved.bindings.items():
            bound = integration_actions[binding.integration_alias]
            interfaces[requirement] = Actions(
                f"interface {requirement!r} (bound to {binding.integration_alias!r})",
                {name: getattr(bound, name) for name in binding.implementation.interface.actions},
            )
        ctx = Context(
            self,
            alias=alias,
            kind="plugin",
            configuration=resolved.config,
            events=package.definition.events,
            interfaces=Namespace("interface", interfaces),
            bindings={name: b.integration_alias for name, b in resolved.bindings.items()},
        )
        self._contexts["plugin"][alias] = ctx
        self.hooks.register(alias, ctx, package.hook_implementations)
        definitions = plugin_actions(self.agent, resolved)
        return _actions(alias, package, definitions, ctx)

    def registrations(self) -> list[tuple[str, Any]]:
        """``(alias, register handler)`` of every integration that declares one."""
        return [
            (alias, integration.register_handler)
            for alias, integration in self._integrations.items()
            if integration.register_handler is not None
        ]

    def context(self, alias: str, kind: Literal["integration", "plugin"] | None = None) -> Context:
        """The host API of an integration or plugin alias (the same object every time).

        An integration and a plugin may share an alias (``[integrations.hitl]`` beside
        ``[plugins.hitl]``); then ``kind`` says which one is meant.
        """
        kinds = [kind] if kind is not None else ["integration", "plugin"]
        found = [self._contexts[k][alias] for k in kinds if alias in self._contexts[k]]
        if len(found) == 1:
            return found[0]
        if found:
            raise LookupError(
                f"{alias!r} names an integration and a plugin of agent {self.agent.name!r}: "
                "pass kind='integration' or kind='plugin'"
            )
        raise LookupError(
            f"no {kind or 'integration or plugin'} alias {alias!r} in agent {self.agent.name!r}"
        )

    def channel_definition(self, alias: str, channel: str) -> ChannelDefinition:
        integration = self._integrations.get(alias)
        if integration is None:
            raise MessageError(f"{alias!r} is not an integration alias of this agent")
        channels = integration.definition.all_channels
        if channel not in channels:
            raise MessageError(
                f"integration {alias!r} has no channel {channel!r} "
                f"(it has: {', '.join(channels) or 'none'})"
            )
        return channels[channel]

    def validate_payload(
        self, place: tuple[str, str], type: str, payload: BaseModel | Mapping[str, Any]
    ) -> dict[str, Any]:
        """The payload as ``(integration alias, channel)``'s model for ``type`` accepts it."""
        integration, channel = place
        messages = self.channel_definition(integration, channel).messages
        if type not in messages:
            raise MessageError(
                f"channel {integration}.{channel} does not take "
                f"{type!r} messages (it takes: {', '.join(messages)})"
            )
        return validate_message(messages[type], type, payload)

    async def place_of(self, conversation_id: str) -> tuple[str, str]:
        """A conversation's ``(integration alias, channel)``, which never change: read once."""
        try:
            self._places.move_to_end(conversation_id)
            return self._places[conversation_id]
        except KeyError:
            pass
        place = await self.store.conversation_place(conversation_id)
        if place is None:
            raise NotFoundError("conversation", conversation_id)
        self._places[conversation_id] = place
        if len(self._places) > PLACES_KEPT:
            self._places.popitem(last=False)
        return place

    def integration(self, alias: str) -> Integration:
        """The running integration package of an alias."""
        return self._integrations[alias]

    # --- outgoing --------------------------------------------------------------------------

    async def send(
        self, outgoing: OutgoingMessage, conversation: Conversation | None = None
    ) -> Message | None:
        """Send through hooks and the sender; ``conversation`` saves a read when known."""
        return await self.outbox.send(outgoing, conversation)

    # --- custom events ---------------------------------------------------------------------

    def event_sender(self, conversation: Conversation) -> EventSender | None:
        """The sender of custom events on the conversation's channel, if it takes events."""
        return self._integrations[conversation.integration].event_senders.get(conversation.channel)

    async def send_event(
        self,
        conversation: Conversation,
        payload: Mapping[str, Any],
        *,
        source: str,
        user_id: str | None,
    ) -> Event | None:
        """Store a custom event (not queued) and hand it to the channel's event sender.

        Inside a job it is a step: a job that runs again sends it once (None the second time).
        """
        sender = self.event_sender(conversation)
        if sender is None:
            raise MessageError(
                f"channel {conversation.integration}.{conversation.channel} takes no custom "
                "events (its integration has no @integration.event_sender for it)"
            )
        try:
            json.dumps(dict(payload))
        except (TypeError, ValueError) as error:
            raise MessageError(f"a custom event's payload must be a JSON object: {error}") from None
        step = current_step()
        try:
            event = await self.store.record_event(
                type=f"{source}.custom",
                source=source,
                payload=payload,
                conversation_id=conversation.id,
                user_id=user_id,
                effect_key=step.next_key(f"event:{source}.custom") if step else None,
            )
        except sqlalchemy.exc.IntegrityError:
            if step is None:
                raise
            return None
        await sender(self._contexts["integration"][conversation.integration], event)
        return event

    # --- processing ------------------------------------------------------------------------

    def wake(self, at: datetime | None = None, *, claims: float = 1) -> None:
        """Tell the background loop that work may be waiting (now, or from ``at`` on)."""
        if at is not None:
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:
                return
            delay = (at - datetime.now(UTC)).total_seconds()
            self._due = min(self._due, loop.time() + max(delay, 0.0))
        else:
            self._wanted += claims
        self._wake.set()

    def _notified(self, payload: str, remote: bool) -> None:
        """A store notification: new work here or in another process (payload: a due time)."""
        if remote:
            self._recheck = True
        self.wake(
            datetime.fromisoformat(payload) if payload else None,
            claims=math.inf if remote else 1,
        )

    async def run_background(self, stop: asyncio.Event) -> None:
        """Fire due scheduled events and process queued jobs until ``stop`` is set."""
        unsubscribe = self.store.notifier.subscribe(WORK, self._notified)
        self._listening.set()
        self._running = True
        heartbeat = asyncio.create_task(self._heartbeat(stop))
        loop = asyncio.get_running_loop()
        remote = self.store.backend == "postgresql"
        try:
            while not stop.is_set():
                self._wake.clear()
                try:
                    await self._poll(loop.time())
                except Exception:
                    logger.exception("background loop of %s failed; retrying", self.worker_id)
                    self._due = loop.time() + 1.0
                if remote:
                    self._due = min(self._due, loop.time() + RECHECK_SECONDS)
                waiter = asyncio.ensure_future(self._wake.wait())
                stopper = asyncio.ensure_future(stop.wait())
                timeout = self._due - loop.time()
                await asyncio.wait(
                    {waiter, stopper},
                    timeout=None if math.isinf(timeout) else max(timeout, 0.0),
                    return_when="FIRST_COMPLETED",
                )
                waiter.cancel()
                stopper.cancel()
        finally:
            self._running = False
            unsubscribe()
            heartbeat.cancel()
            await self.drain()

    async def ready(self) -> None:
        """Wait until ``run_background`` hears the store's notifications (other processes'
        included), so that work queued from now on wakes this worker at once."""
        await self._listening.wait()
        await self.store.notifier.listening()

    async def _poll(self, now: float) -> None:
        """One look for work: timers when due, jobs while there is room, then the next due time."""
        loop = asyncio.get_running_loop()
        if now >= self._due:
            self._recheck = True
            self._due = math.inf
            self._wanted = math.inf
            await self.store.fire_due(self.worker_id)
        wanted, self._wanted = self._wanted, 0
        started_all = await self._start_jobs(wanted)
        if self._recheck and not started_all:
            self._recheck = False
            nxt = await self.store.next_wakeup(self.worker_id)
            if nxt is not None:
                delay = (nxt - datetime.now(UTC)).total_seconds()
                self._due = min(self._due, loop.time() + max(delay, 0.0) + 0.01)

    async def _heartbeat(self, stop: asyncio.Event) -> None:
        """Renew the leases of the jobs in hand, so no other worker takes them while they run."""
        while not stop.is_set():
            await asyncio.sleep(HEARTBEAT_SECONDS)
            if self._tasks:
                try:
                    await self.store.renew_leases(self.worker_id, lease=JOB_LEASE)
                except Exception as error:
                    logger.warning("renewing job leases failed: %s", error)

    async def process_pending(self) -> None:
        """Fire what is due and run every runnable job to the end (tests, one-shot tools)."""
        while True:
            await self.store.fire_due(self.worker_id)
            await self._start_jobs(math.inf)
            if not self._tasks:
                return
            await self.drain()

    async def drain(self) -> None:
        """Wait for the jobs this process is running."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    def on_shutdown(self, callback: Callable[[], None]) -> Callable[[], None]:
        """Call ``callback()`` when the server begins to shut down; returns the undo."""
        self._on_shutdown.append(callback)
        return lambda: self._on_shutdown.remove(callback)

    def begin_shutdown(self) -> None:
        """The server takes no more requests: end long-lived responses (event streams) now.

        The server waits for open responses before it stops the runtime; a stream left open
        would hold it until its graceful-shutdown timeout, then be cancelled with an error.
        """
        for callback in list(self._on_shutdown):
            callback()

    async def stop(self) -> None:
        """Finish the jobs in hand, then close what packages kept per alias (``ctx.local``)
        and the model's client."""
        await self.drain()
        for contexts in self._contexts.values():
            for ctx in contexts.values():
                await ctx.close_locals()
        await self.responder.close()

    async def _start_jobs(self, wanted: float) -> bool:
        """Claim up to ``wanted`` jobs while there is room; True when room ran out first."""
        claimed = 0
        while claimed < wanted:
            if len(self._tasks) >= self._concurrency:
                self._saturated = True
                return True
            job = await self.store.claim_next_job(self.worker_id, lease=JOB_LEASE)
            if job is None:
                # An announced job may belong to a conversation a job here still runs; if that
                # job's completion missed it (it committed in between), look again then.
                self._missed = self._missed or bool(self._tasks)
                return False
            claimed += 1
            self.adopt(job)
        return False

    def room_for_received(self) -> tuple[str, timedelta] | None:
        """Owner and lease under which a receiving transaction may claim its message's job for
        this worker: while the background loop runs and has room. It saves the claim's own
        transaction and read, and the wake-up between the two."""
        if not self._running or len(self._tasks) >= self._concurrency:
            return None
        return self.worker_id, JOB_LEASE

    def runs_here(self, conversation_id: str | None) -> bool:
        """Whether a task here runs the conversation's jobs (and will claim its next)."""
        return self._active[conversation_id] > 0

    def queued_behind(self, conversation_id: str | None) -> None:
        """A job was stored, unclaimed and unannounced, behind one this process runs.

        No other process could run it before that one ends, so telling them costs a
        notification and their claims for nothing. The running chain's next claim finds it;
        if that chain already made its last claim, its end (or now, if it ended) claims it.
        """
        if self._active[conversation_id]:
            self._behind.add(conversation_id)
        else:
            self._resume(conversation_id)

    def _resume(self, conversation_id: str | None) -> None:
        """Claim and run a conversation's next job, stored behind a chain here that ended
        without seeing it. The claim is in that conversation: a wake would claim the oldest
        runnable job of any conversation, and another conversation's job could take its place
        and leave this one waiting for the next look."""
        if not self._running or len(self._tasks) >= self._concurrency:
            self.wake()  # the loop claims it when there is room
            return
        self._active[conversation_id] += 1
        task = asyncio.create_task(self._claim_and_run(conversation_id))
        self._tasks.add(task)
        task.add_done_callback(lambda done: self._finished(done, conversation_id))

    async def _claim_and_run(self, conversation_id: str | None) -> None:
        try:
            job = await self.store.claim_next_job(
                self.worker_id, lease=JOB_LEASE, conversation_id=conversation_id
            )
        except Exception:
            logger.exception("claiming the next job of %s failed; looking again", conversation_id)
            self.wake()
            return
        await self._run_conversation(job)

    def adopt(self, job: Job) -> None:
        """Run a job leased to this worker (and its conversation's next ones)."""
        conversation = job.conversation_id
        self._active[conversation] += 1
        task = asyncio.create_task(self._run_conversation(job))
        self._tasks.add(task)
        task.add_done_callback(lambda done: self._finished(done, conversation))

    def _finished(self, task: asyncio.Task[None], conversation: str | None) -> None:
        self._tasks.discard(task)
        self._active[conversation] -= 1
        if not self._active[conversation]:
            del self._active[conversation]
            if conversation in self._behind:  # stored after the chain's last claim
                self._behind.discard(conversation)
                self._resume(conversation)
        if self._saturated:  # room again for work that had to wait
            self._saturated = False
            self.wake(claims=math.inf)
        elif self._missed:
            self._missed = False
            self.wake()

    async def _run_conversation(self, job: Job | None) -> None:
        """Run a job, then the conversation's next ones, each claimed as the last completes."""
        while job is not None:
            current = job
            try:
                job = await self._run(current)
            except Exception:  # the store failed while recording the end: the lease runs out
                logger.exception("finishing job %s failed; it will be taken again", current.id)
                return
            if job is not None:  # the chain goes on: its next claim, made later, finds them
                self._behind.discard(current.conversation_id)

    async def _run(self, job: Job) -> Job | None:
        """Run one job to its end; the conversation's next job when it claimed one."""
        run = JobRun(root=_root(job), replaying=job.runs > 1 or job.attempts > 0)
        try:
            with running(Step(run, run.root)):
                await self._process(job)
        except RetryLater as later:
            await self._retry(job, run, str(later), later.delay)
            return None
        except Exception as error:
            if _store_failure(error):
                delay = min(2.0**job.attempts, self.settings.max_retry_seconds)
                logger.warning(
                    "job %s: the database failed (%s); running it again in %.0f s",
                    job.id,
                    error,
                    delay,
                )
                await self._retry(job, run, f"{type(error).__name__}: {error}", delay)
                return None
            await self._failed(job, run, error)
            self.wake()  # the conversation's next job is runnable now
            return None
        following = await self.store.complete_job(
            job, sent=run.sent, then_claim=(self.worker_id, JOB_LEASE)
        )
        self.instruments.handled(job)
        if run.recorded:
            await self.store.forget_effects(run.root)
        return following

    async def _retry(self, job: Job, run: JobRun, reason: str, delay: float) -> None:
        retry_at = datetime.now(UTC) + timedelta(seconds=delay)
        try:
            await self.store.fail_job(job.id, reason, retry_at=retry_at, sent=run.sent)
        except Exception as error:  # the lease runs out and the job is taken again
            logger.warning("job %s could not be rescheduled: %s", job.id, error)
            return
        self.wake(retry_at)

    async def _failed(self, job: Job, run: JobRun, error: Exception) -> None:
        """Code raised: keep the job as failed, tell the user once, never run it again."""
        details = "".join(traceback.format_exception(error))
        logger.error(
            "job %s (%s of conversation %s) failed, not retried: %s: %s",
            job.id,
            job.kind,
            job.conversation_id or "(agent)",
            type(error).__name__,
            error,
        )
        logger.debug("job %s traceback:\n%s", job.id, details)
        if job.kind == "message" and not isinstance(error, ReportedError):
            await self._say_error(job, run)
        await self.store.fail_job(job.id, details, retry_at=None, sent=run.sent)

    async def _say_error(self, job: Job, run: JobRun) -> None:
        text = self.settings.error_text
        if not text:
            return
        outgoing = OutgoingMessage(
            conversation_id=job.conversation_id, type="text", payload={"text": text}
        )
        try:
            with running(Step(run, f"{run.root}:error")):
                await self.send(outgoing)
        except Exception as error:
            logger.warning("could not tell conversation %s: %s", job.conversation_id, error)

    async def _process(self, job: Job) -> None:
        if job.kind == "message":
            subject = job.subject or await self.store.message_context(
                str(job.payload["message_id"])
            )
            if subject is not None:
                await self._process_message(*subject)
        elif job.kind == "event":
            event = await self.store.get_event(str(job.payload["event_id"]))
            if event is not None:
                await self._process_event(event)
        elif job.kind == "scheduled":
            scheduled = await self.store.get_scheduled(str(job.payload["scheduled_event_id"]))
            if scheduled is not None:
                await self._process_event(scheduled.as_event())
        elif job.kind == "deliver":
            await self.outbox.deliver_queued(job)
        else:
            raise PatchwireError(f"unknown job kind {job.kind!r}")

    async def _process_message(
        self, message: Message, conversation: Conversation, user: User | None
    ) -> None:
        log_conversation(conversation)
        with carrying(conversation, user):
            if await self.hooks.run_before("before_incoming_message", message) is STOP:
                return
            channel = f"{conversation.integration}.{conversation.channel}"
            for handler in self.code.for_channel(channel):
                assert handler.handler is not None
                await handler.handler(
                    MessageContext(self, message=message, conversation=conversation, user=user)
                )
            await self.hooks.run_after("after_incoming_message", message)

    async def _process_event(self, event: Event) -> None:
        if await self.hooks.run_before("before_incoming_event", event) is STOP:
            return
        if event.conversation_id:
            conversation = await self.store.get_conversation(event.conversation_id)
            if conversation is not None:
                log_conversation(conversation)
                channel = f"{conversation.integration}.{conversation.channel}"
                for handler in self.code.for_channel(channel):
                    if handler.on_event is not None:
                        await handler.on_event(
                            EventContext(self, event=event, conversation=conversation)
                        )
        await self.hooks.run_after("after_incoming_event", event)


def _root(job: Job) -> str:
    """The job's step-key root: the id of what it is for (unique across agents)."""
    for field in ("message_id", "event_id", "scheduled_event_id"):
        if field in job.payload and job.kind != "deliver":
            return str(job.payload[field])
    return f"job-{job.id}"


def _store_failure(error: BaseException) -> bool:
    """Whether the database (not the code) failed: worth running the job again."""
    return isinstance(
        error,
        sqlalchemy.exc.OperationalError
        | sqlalchemy.exc.InterfaceError
        | sqlalchemy.exc.TimeoutError,
    ) or bool(getattr(error, "connection_invalidated", False))


def _not_runnable(kind: str, alias: str, pin: str) -> str:
    return (
        f"{kind} alias {alias!r} ({pin}) ships a definition only and cannot run yet; "
        "upgrade the package, or remove it from agent.toml"
    )


def _actions(
    alias: str,
    package: Integration | Plugin,
    definitions: Mapping[str, ActionDefinition],
    ctx: Context,
    counted: Instruments | None = None,
) -> Actions:
    """The package's actions bound to ``ctx``; an integration's calls ``counted`` by outcome."""
    calls: dict[str, ActionCall] = {}
    for name, definition in definitions.items():
        handler = package.action_handlers[name]
        if counted is not None:
            handler = counted.counted(alias, name, handler)

        async def invoke(
            validated: BaseModel, handler: Any = handler, qualified: str = f"{alias}.{name}"
        ) -> Any:
            step = current_step()
            if step is None:
                return await handler(ctx, validated)
            called = f"{qualified}#{_digest(validated)}"
            return await _recorded_step(step, called, ctx.store, lambda: handler(ctx, validated))

        calls[name] = bind_action(f"{alias}.{name}", definition, invoke)
    return Actions(repr(alias), calls)


def _digest(validated: BaseModel) -> str:
    """A short digest of an action's input: a step is the call of that action with that input,
    so a replay that skips another call (state changed in between) still finds its own."""
    text: str = validated.model_dump_json()
    return hashlib.sha256(text.encode()).hexdigest()[:12]


async def _recorded_step(
    step: Step, action: str, store: Store, call: Callable[[], Awaitable[Any]]
) -> Any:
    """Run an action call as a step of its job: once, its result replayed on a later run."""
    key = step.next_key(action)
    if step.run.replaying:
        recorded = await store.recorded_effect(key)
        if recorded is not None:
            return recorded["output"]
    with running(step.inside(key)):
        result = await call()
    await store.record_effect(key, {"output": to_jsonable_python(result, by_alias=False)})
    step.run.recorded = True
    return result
