"""The outgoing path: hooks, store, sender, and delivery that outlasts an outside outage.

A message is stored before its integration's sender is called, under its job step's key (so a
job that runs again finds it instead of sending it twice). The sender gets ``message.id``, which
stays the same on every attempt: integrations send it as the ``Idempotency-Key`` of their call.

When the sender fails because the outside system is down or throttling
(:func:`patchwire.retries.transient`), the message is queued and a ``deliver`` job of its
conversation sends the queue in order, backing off from 1 s up to ``[runtime]
max_retry_seconds`` (or as long as the system asked), for ``delivery_retry_hours``. Messages
sent to that conversation meanwhile queue behind it. A message that still cannot be delivered is
marked ``failed``, kept as a failed job for the operator, and passed to the
``after_outgoing_message`` hooks with that status, so a plugin can tell whoever wrote it.
Any other sender failure is the message's own: it is marked ``failed`` and ``DeliveryError``
raised to the code that sent it.
"""

from __future__ import annotations

import dataclasses
import logging
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from patchwire._errors import PatchwireError
from patchwire._packages import MessageSender
from patchwire.retries import RetryableError, transient
from patchwire.runtime._context import MessageError
from patchwire.runtime._hooks import STOP, OutgoingMessage
from patchwire.runtime._steps import current_step
from patchwire.store import Conversation, Job, Message, NotFoundError

if TYPE_CHECKING:
    from patchwire.runtime._runtime import Runtime

__all__ = ["DeliveryError", "Outbox", "RetryLater"]

logger = logging.getLogger("patchwire.runtime")

QUEUE_BATCH = 20


class DeliveryError(PatchwireError):
    """An integration's sender refused the message; it is stored with status ``failed``."""


class RetryLater(Exception):
    """A ``deliver`` job's outside system is still down: run the job again after ``delay``."""

    def __init__(self, reason: str, delay: float) -> None:
        super().__init__(reason)
        self.delay = delay


class Outbox:
    """The runtime's outgoing messages."""

    def __init__(self, runtime: Runtime) -> None:
        self._runtime = runtime

    @property
    def _settings(self) -> tuple[timedelta, float]:
        settings = self._runtime.settings
        return timedelta(hours=settings.delivery_retry_hours), settings.max_retry_seconds

    async def send(
        self, outgoing: OutgoingMessage, conversation: Conversation | None = None
    ) -> Message | None:
        """Hooks, store, deliver; None when a hook stopped it, else the stored message."""
        runtime = self._runtime
        step = current_step()
        key = step.next_key("message") if step is not None else None
        if key is not None and step is not None and step.run.replaying:
            earlier = await runtime.store.outgoing_by_effect(key)
            if earlier is not None:
                if earlier.status != "sending":
                    return earlier
                # The run before stopped while delivering it: deliver it again (same id).
                return await self._deliver(earlier, await self._conversation(earlier))
        changed = await runtime.hooks.run_before("before_outgoing_message", outgoing)
        if changed is STOP:
            return None
        assert isinstance(changed, OutgoingMessage)
        if conversation is None or conversation.id != changed.conversation_id:
            conversation = await self._conversation_by_id(changed.conversation_id)
        self._sender(conversation, changed.type)
        message = await runtime.store.create_outgoing(
            conversation_id=conversation.id,
            user_id=changed.user_id,
            type=changed.type,
            payload=changed.payload,
            metadata=changed.metadata,
            tags=changed.tags,
            effect_key=key,
        )
        runtime.instruments.sent.labels(conversation.integration).inc()
        if message.status == "queued":
            return message  # behind messages that wait for their outside system
        return await self._deliver(message, conversation)

    async def _deliver(self, message: Message, conversation: Conversation) -> Message:
        runtime = self._runtime
        sender = self._sender(conversation, message.type)
        try:
            await sender(runtime.context(conversation.integration, "integration"), message)
        except Exception as error:
            reason = transient(error)
            if reason is None:
                await runtime.store.set_message_status(message.id, "failed")
                logger.warning(
                    "integration %r refused message %s on %s: %s",
                    conversation.integration,
                    message.id,
                    conversation.channel,
                    error,
                )
                raise DeliveryError(
                    f"integration {conversation.integration!r} could not deliver the message: "
                    f"{type(error).__name__}: {error}"
                ) from error
            delay = self._delay(reason, attempt=0)
            logger.warning(
                "integration %r is unavailable (%s): message %s queued, next try in %.1f s",
                conversation.integration,
                reason,
                message.id,
                delay,
            )
            retry_at = datetime.now(UTC) + timedelta(seconds=delay)
            await runtime.store.defer_delivery(message, str(reason), retry_at=retry_at)
            return dataclasses.replace(message, status="queued")
        sent = dataclasses.replace(message, status="sent")
        step = current_step()
        if step is not None:
            step.run.sent.append(message.id)  # marked with the job's completion
        else:
            await runtime.store.set_message_status(message.id, "sent")
        await runtime.hooks.run_after("after_outgoing_message", sent)
        return sent

    async def deliver_queued(self, job: Job) -> None:
        """Run a ``deliver`` job: send the conversation's queue in order, or retry later."""
        store = self._runtime.store
        if "message_id" in job.payload:  # an operator asked to try a failed message again
            await store.requeue(str(job.payload["message_id"]))
        retry_for, _ = self._settings
        while batch := await store.queued_messages(job.conversation_id, limit=QUEUE_BATCH):
            conversation = await self._conversation(batch[0])
            for message in batch:
                sender = self._sender(conversation, message.type)
                try:
                    await sender(
                        self._runtime.context(conversation.integration, "integration"), message
                    )
                except Exception as error:
                    reason = transient(error)
                    expired = datetime.now(UTC) - message.created_at > retry_for
                    if reason is not None and not expired:
                        raise RetryLater(str(reason), self._delay(reason, job.attempts)) from error
                    why = f"{type(error).__name__}: {error}"
                    if expired:
                        why = f"still undeliverable after {retry_for}: {why}"
                    await self._undeliverable(message, why)
                    continue
                await store.settle_delivery(message)
                await self._runtime.hooks.run_after(
                    "after_outgoing_message", dataclasses.replace(message, status="sent")
                )

    async def _undeliverable(self, message: Message, why: str) -> None:
        logger.error("message %s given up: %s", message.id, why)
        await self._runtime.store.settle_delivery(message, error=why)
        await self._runtime.hooks.run_after(
            "after_outgoing_message", dataclasses.replace(message, status="failed")
        )

    def _delay(self, reason: RetryableError, attempt: int) -> float:
        _, longest = self._settings
        if reason.delay is not None:
            return max(reason.delay, 0.0)
        return float(min(2**attempt, longest))

    def _sender(self, conversation: Conversation, type: str) -> MessageSender:
        integration = self._runtime.integration(conversation.integration)
        sender = integration.message_senders.get((conversation.channel, type))
        if sender is None:
            raise MessageError(
                f"integration {conversation.integration!r} cannot send {type!r} "
                f"messages on channel {conversation.channel!r}"
            )
        return self._runtime.instruments.counted(conversation.integration, "send", sender)

    async def _conversation(self, message: Message) -> Conversation:
        return await self._conversation_by_id(message.conversation_id)

    async def _conversation_by_id(self, conversation_id: str) -> Conversation:
        conversation = await self._runtime.store.get_conversation(conversation_id)
        if conversation is None:
            raise NotFoundError("conversation", conversation_id)
        return conversation
