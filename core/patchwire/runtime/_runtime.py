"""The running agent: bound packages, the durable pipeline and the outgoing path.

Incoming messages and events are stored and queued by the store in one transaction, then
processed here: each conversation's jobs one at a time in arrival order (across processes, by
the store's job leases), different conversations in parallel. A failing handler is retried
with backoff and, after the last attempt, recorded as failed; the message itself is never
lost and the next message of the conversation is processed.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import os
import socket
import traceback
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from pydantic import BaseModel
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from patchwire._binding import plugin_actions
from patchwire._config import ModelConfig
from patchwire._definitions import ActionDefinition, ChannelDefinition
from patchwire._errors import PatchwireError
from patchwire._packages import EventSender, Integration, Plugin
from patchwire._proxies import ActionCall, Actions, Namespace, bind_action
from patchwire._resolved import ResolvedAgent, ResolvedPlugin
from patchwire.runtime._context import Context, MessageError, validate_message
from patchwire.runtime._conversation import AgentCode
from patchwire.runtime._hooks import STOP, HookRunner, OutgoingMessage
from patchwire.runtime._message_context import EventContext, MessageContext
from patchwire.store import Conversation, Event, Job, Message, NotFoundError, Store

__all__ = ["DeliveryError", "NotRunnableError", "Runtime"]

logger = logging.getLogger("patchwire.runtime")

MAX_ATTEMPTS = 3
"""A job is tried this many times (backoff 1 s, 4 s) before it is recorded as failed."""

JOB_LEASE = timedelta(minutes=5)
POLL_SECONDS = 0.25


class NotRunnableError(PatchwireError):
    """A configured package ships a definition only and cannot run."""


class DeliveryError(PatchwireError):
    """An integration's sender failed; the message is stored with status ``failed``."""


class Runtime:
    """One agent running on one store; create it with :meth:`start`."""

    def __init__(
        self,
        agent: ResolvedAgent,
        *,
        store: Store,
        code: AgentCode | None,
        worker_id: str,
        model: ModelConfig | None,
        concurrency: int,
    ) -> None:
        self.agent = agent
        self.store = store
        self.code = code or AgentCode(path=None, conversations=())
        self.worker_id = worker_id
        self.model = model
        self.hooks = HookRunner()
        self._concurrency = concurrency
        self._integrations: dict[str, Integration] = {}
        self._contexts: dict[str, dict[str, Context]] = {"integration": {}, "plugin": {}}
        self._wake = asyncio.Event()
        self._tasks: set[asyncio.Task[None]] = set()
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
        model: ModelConfig | None = None,
        concurrency: int = 32,
    ) -> Runtime:
        runtime = cls(
            agent,
            store=store,
            code=code,
            model=model,
            concurrency=concurrency,
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
            ctx = Context(self, alias=alias, kind="integration", configuration=resolved.config)
            self._integrations[alias] = package
            self._contexts["integration"][alias] = ctx
            integration_actions[alias] = _actions(
                alias, package, package.definition.all_actions, ctx
            )
        self.integrations = Namespace("integration", integration_actions)
        plugin_actions: dict[str, Actions] = {}
        for alias, plugin in self.agent.plugins.items():
            plugin_actions[alias] = self._bind_plugin(alias, plugin, integration_actions)
        self.plugins = Namespace("plugin", plugin_actions)

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
        self, conversation: Conversation, type: str, payload: BaseModel | Mapping[str, Any]
    ) -> dict[str, Any]:
        messages = self.channel_definition(conversation.integration, conversation.channel).messages
        if type not in messages:
            raise MessageError(
                f"channel {conversation.integration}.{conversation.channel} does not take "
                f"{type!r} messages (it takes: {', '.join(messages)})"
            )
        return validate_message(messages[type], type, payload)

    # --- outgoing --------------------------------------------------------------------------

    async def send(
        self, outgoing: OutgoingMessage, conversation: Conversation | None = None
    ) -> Message | None:
        """Send through hooks and the sender; ``conversation`` saves a read when known."""
        changed = await self.hooks.run_before("before_outgoing_message", outgoing)
        if changed is STOP:
            return None
        assert isinstance(changed, OutgoingMessage)
        if conversation is None or conversation.id != changed.conversation_id:
            conversation = await self.store.get_conversation(changed.conversation_id)
            if conversation is None:
                raise NotFoundError("conversation", changed.conversation_id)
        integration = self._integrations[conversation.integration]
        sender = integration.message_senders.get((conversation.channel, changed.type))
        if sender is None:
            raise MessageError(
                f"integration {conversation.integration!r} cannot send {changed.type!r} "
                f"messages on channel {conversation.channel!r}"
            )
        message = await self.store.create_message(
            conversation_id=conversation.id,
            user_id=changed.user_id,
            direction="outgoing",
            type=changed.type,
            payload=changed.payload,
            metadata=changed.metadata,
            status="sending",
            tags=changed.tags,
        )
        try:
            await sender(self._contexts["integration"][conversation.integration], message)
        except Exception as error:
            await self.store.set_message_status(message.id, "failed")
            logger.warning(
                "sending message %s on %s.%s failed: %s",
                message.id,
                conversation.integration,
                conversation.channel,
                error,
            )
            raise DeliveryError(
                f"integration {conversation.integration!r} could not deliver the message: "
                f"{type(error).__name__}: {error}"
            ) from error
        await self.store.set_message_status(message.id, "sent")
        sent = dataclasses.replace(message, status="sent")
        await self.hooks.run_after("after_outgoing_message", sent)
        return sent

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
    ) -> Event:
        """Store a custom event (not queued) and hand it to the channel's event sender."""
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
        async with self.store.sessions.begin() as session:
            event = await self.store.record_event(
                session,
                type=f"{source}.custom",
                source=source,
                payload=payload,
                conversation_id=conversation.id,
                user_id=user_id,
            )
        await sender(self._contexts["integration"][conversation.integration], event)
        return event

    # --- webhooks --------------------------------------------------------------------------

    async def handle_webhook(self, alias: str, request: Request) -> Response:
        integration = self._integrations.get(alias)
        if integration is None or integration.webhook_handler is None:
            return JSONResponse(
                {"error": f"no integration with a webhook is configured as {alias!r}"},
                status_code=404,
            )
        try:
            response = await integration.webhook_handler(
                self._contexts["integration"][alias], request
            )
        except Exception:
            incident = uuid.uuid4().hex[:12]
            logger.exception(
                "webhook of integration %r failed (incident %s, %s %s)",
                alias,
                incident,
                request.method,
                request.url.path,
            )
            return JSONResponse({"error": "internal error", "incident": incident}, status_code=500)
        return response if isinstance(response, Response) else Response(status_code=200)

    # --- processing ------------------------------------------------------------------------

    def wake(self) -> None:
        """Tell the background loop that work may be waiting."""
        self._wake.set()

    async def run_background(self, stop: asyncio.Event) -> None:
        """Fire due scheduled events and process queued jobs until ``stop`` is set."""
        next_timer_check = 0.0
        loop = asyncio.get_running_loop()
        while not stop.is_set():
            try:
                if loop.time() >= next_timer_check:
                    next_timer_check = loop.time() + POLL_SECONDS
                    await self.store.fire_due(self.worker_id)
                await self._start_jobs()
            except Exception:
                logger.exception("background loop of worker %s failed; retrying", self.worker_id)
            self._wake.clear()
            waiter = asyncio.ensure_future(self._wake.wait())
            stopper = asyncio.ensure_future(stop.wait())
            await asyncio.wait(
                {waiter, stopper}, timeout=POLL_SECONDS, return_when="FIRST_COMPLETED"
            )
            waiter.cancel()
            stopper.cancel()
        await self.drain()

    async def process_pending(self) -> None:
        """Fire what is due and run every runnable job to the end (tests, one-shot tools)."""
        while True:
            await self.store.fire_due(self.worker_id)
            started = await self._start_jobs()
            if not started and not self._tasks:
                return
            await self.drain()

    async def drain(self) -> None:
        """Wait for the jobs this process is running."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def stop(self) -> None:
        """Finish the jobs in hand, then close what packages kept per alias (``ctx.local``)."""
        await self.drain()
        for contexts in self._contexts.values():
            for ctx in contexts.values():
                await ctx.close_locals()

    async def _start_jobs(self) -> int:
        started = 0
        while len(self._tasks) < self._concurrency:
            job = await self.store.claim_next_job(self.worker_id, lease=JOB_LEASE)
            if job is None:
                break
            task = asyncio.create_task(self._run(job))
            self._tasks.add(task)
            task.add_done_callback(self._finished)
            started += 1
        return started

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        self.wake()

    async def _run(self, job: Job) -> None:
        try:
            await self._process(job)
        except Exception as error:
            attempt = job.attempts + 1
            retry = attempt < MAX_ATTEMPTS
            logger.error(
                "job %s (%s of conversation %r) failed on attempt %d/%d%s:\n%s",
                job.id,
                job.kind,
                job.conversation_id,
                attempt,
                MAX_ATTEMPTS,
                "; retrying" if retry else "; giving up, recorded as failed",
                "".join(traceback.format_exception(error)),
            )
            retry_at = datetime.now(UTC) + timedelta(seconds=4 ** (attempt - 1)) if retry else None
            await self.store.fail_job(job.id, f"{type(error).__name__}: {error}", retry_at=retry_at)
        else:
            await self.store.complete_job(job.id)

    async def _process(self, job: Job) -> None:
        if job.kind == "message":
            await self._process_message(str(job.payload["message_id"]))
        elif job.kind == "event":
            event = await self.store.get_event(str(job.payload["event_id"]))
            if event is not None:
                await self._process_event(event)
        elif job.kind == "scheduled":
            scheduled = await self.store.get_scheduled(str(job.payload["scheduled_event_id"]))
            if scheduled is not None:
                await self._process_event(scheduled.as_event())
        else:
            raise PatchwireError(f"unknown job kind {job.kind!r}")

    async def _process_message(self, message_id: str) -> None:
        loaded = await self.store.message_context(message_id)
        if loaded is None:
            return
        message, conversation, user = loaded
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
                channel = f"{conversation.integration}.{conversation.channel}"
                for handler in self.code.for_channel(channel):
                    if handler.on_event is not None:
                        await handler.on_event(
                            EventContext(self, event=event, conversation=conversation)
                        )
        await self.hooks.run_after("after_incoming_event", event)


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
) -> Actions:
    calls: dict[str, ActionCall] = {}
    for name, definition in definitions.items():
        handler = package.action_handlers[name]

        async def invoke(validated: BaseModel, handler: Any = handler) -> Any:
            return await handler(ctx, validated)

        calls[name] = bind_action(f"{alias}.{name}", definition, invoke)
    return Actions(repr(alias), calls)
