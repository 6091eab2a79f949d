"""``Context``: the host API one integration, plugin or the agent code works through.

States and remembered keys are namespaced by the context's kind and alias, so two aliases of
one plugin, or an integration and a plugin sharing an alias, never see each other's data.
Everything goes through the store; nothing here touches the database.
"""

from __future__ import annotations

import difflib
import inspect
import json
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from pydantic import BaseModel, ValidationError

from patchwire._definitions import ConfigT, EventDefinition
from patchwire._errors import PatchwireError, format_validation_error
from patchwire._proxies import Namespace
from patchwire.metrics import Metrics
from patchwire.runtime._envelope import lent, renew
from patchwire.runtime._hooks import OutgoingMessage
from patchwire.runtime._steps import current_step, idempotency_key
from patchwire.store import (
    Conversation,
    Event,
    Message,
    MessagePage,
    NotFoundError,
    Participant,
    ScheduledEvent,
    StateScope,
    Store,
    User,
)
from patchwire.store._notify import SIGNALS
from patchwire.store._stats import tag_value_counts

if TYPE_CHECKING:
    from patchwire.runtime._runtime import Runtime

__all__ = ["Context", "EventError", "MessageError"]


class MessageError(PatchwireError, ValueError):
    """A message whose type or payload its channel does not accept; nothing was stored."""


class EventError(PatchwireError, ValueError):
    """An event its package does not declare, or whose payload fails the declared model;
    nothing was emitted."""


_T = TypeVar("_T")
BROADCAST_LIMIT = 7000
"""Bytes of JSON one broadcast may carry (PostgreSQL's NOTIFY takes under 8,000)."""
_LONG_AGO = datetime.min.replace(tzinfo=UTC)
_PURGE_EVERY = timedelta(minutes=1)


class Context(Generic[ConfigT]):
    """The host API for one alias (``kind`` is ``integration``, ``plugin`` or ``agent``).

    ``ConfigT`` is the package's configuration model: a handler of an
    ``Integration[AcmeConfiguration]`` takes ``ctx: Context[AcmeConfiguration]``.
    """

    def __init__(
        self,
        runtime: Runtime,
        *,
        alias: str,
        kind: str,
        configuration: ConfigT,
        events: Mapping[str, EventDefinition] | None = None,
        interfaces: Namespace | None = None,
        bindings: Mapping[str, str] | None = None,
    ) -> None:
        self._runtime = runtime
        self._bindings = dict(bindings or {})
        self.alias = alias
        self.kind = kind
        self.namespace = f"{kind}:{alias}"
        self._configuration = configuration
        self._events = events
        self._interfaces = interfaces
        self._locals: dict[Callable[[Any], Any], Any] = {}
        self._purged: dict[str, datetime] = {}

    def __repr__(self) -> str:
        return f"<Context {self.kind} {self.alias!r}>"

    @property
    def configuration(self) -> ConfigT:
        """The alias's validated configuration (``config`` in agent.toml), of the package's
        configuration model; ``NoConfiguration()`` for agent code."""
        return self._configuration

    def local(self, factory: Callable[[Context[ConfigT]], _T]) -> _T:
        """The alias's own ``factory(ctx)`` object, made on first use and kept while it runs.

        For what a package keeps between calls (an HTTP client, a cache, a queue); an object
        with a ``close()`` method is closed when the runtime stops.
        """
        try:
            found: _T = self._locals[factory]
        except KeyError:
            found = self._locals[factory] = factory(self)
        return found

    async def close_locals(self) -> None:
        """Close the alias's objects, newest first (the runtime calls this when it stops)."""
        made, self._locals = list(self._locals.values()), {}
        for value in reversed(made):
            close = getattr(value, "close", None)
            if close is not None:
                result = close()
                if inspect.isawaitable(result):
                    await result

    @property
    def public_url(self) -> str | None:
        """Where outside systems reach this agent: ``serve --public-url``, else agent.toml's
        ``public_url`` (no trailing slash); None when neither is given."""
        return self._runtime.agent.public_url

    @property
    def webhook_url(self) -> str | None:
        """The URL this alias's routes answer at from outside, ``<public_url>/webhooks/<alias>``:
        what a register step gives the outside system. None without a public URL."""
        base = self.public_url
        return f"{base}/webhooks/{self.alias}" if base is not None else None

    @property
    def store(self) -> Store:
        return self._runtime.store

    @property
    def metrics(self) -> Metrics:
        """The agent's metrics (``/metrics``): shared by every alias, get-or-create by name."""
        return self._runtime.metrics

    async def count_conversations(self, tag: str) -> dict[str, int]:
        """How many conversations carry the tag ``tag``, by its value (for read gauges)."""
        return await tag_value_counts(self.store, "conversation", tag)

    @property
    def interfaces(self) -> Namespace:
        """A plugin's bound interfaces: ``ctx.interfaces.hitl.actions.start_hitl(...)``."""
        if self._interfaces is None:
            raise AttributeError(f"{self.kind} {self.alias!r} requires no interfaces")
        return self._interfaces

    def bound_integration(self, requirement: str) -> str:
        """The alias of the integration a plugin requirement is bound to."""
        try:
            return self._bindings[requirement]
        except KeyError:
            raise LookupError(
                f"{self.kind} {self.alias!r} has no requirement {requirement!r} "
                f"(it has: {', '.join(self._bindings) or 'none'})"
            ) from None

    @property
    def integrations(self) -> Namespace:
        return self._runtime.integrations

    @property
    def plugins(self) -> Namespace:
        return self._runtime.plugins

    # --- users and conversations -----------------------------------------------------------

    async def get_user(self, user_id: str) -> User | None:
        found = lent("user", user_id)
        if isinstance(found, User):
            return found
        return await self.store.get_user(user_id)

    async def create_user(
        self,
        *,
        tags: Mapping[str, str] | None = None,
        name: str | None = None,
        picture_url: str | None = None,
        identity: Mapping[str, str] | None = None,
    ) -> User:
        """A new user of this alias.

        ``identity`` tags (stored as tags too) name the user uniquely within this alias: a
        second create with them raises :class:`~patchwire.AlreadyExistsError`, atomically
        across processes, and ``get_or_create_user(tags=identity)`` finds this user.
        """
        return await self.store.create_user(
            integration=self.alias,
            name=name,
            picture_url=picture_url,
            tags=tags,
            identity=identity,
        )

    async def get_or_create_user(
        self, *, tags: Mapping[str, str], name: str | None = None, picture_url: str | None = None
    ) -> User:
        return await self.store.get_or_create_user(
            integration=self.alias, tags=tags, name=name, picture_url=picture_url
        )

    async def update_user(
        self,
        user_id: str,
        *,
        tags: Mapping[str, str] | None = None,
        name: str | None = None,
        picture_url: str | None = None,
    ) -> User:
        user = await self.store.update_user(user_id, name=name, picture_url=picture_url, tags=tags)
        renew("user", user)
        return user

    async def find_users(self, tags: Mapping[str, str]) -> list[User]:
        return await self.store.find_users(tags)

    async def get_conversation(self, conversation_id: str) -> Conversation | None:
        found = lent("conversation", conversation_id)
        if isinstance(found, Conversation):
            return found
        return await self.store.get_conversation(conversation_id)

    async def create_conversation(
        self,
        *,
        channel: str,
        tags: Mapping[str, str] | None = None,
        identity: Mapping[str, str] | None = None,
        participants: Sequence[str] = (),
    ) -> Conversation:
        """A new conversation on one of this integration's channels (``identity``: as users),
        with ``participants`` (user ids) joined in the same transaction."""
        self._runtime.channel_definition(self.alias, channel)
        return await self.store.create_conversation(
            integration=self.alias,
            channel=channel,
            tags=tags,
            identity=identity,
            participants=participants,
        )

    async def get_or_create_conversation(
        self, *, channel: str, tags: Mapping[str, str]
    ) -> Conversation:
        self._runtime.channel_definition(self.alias, channel)
        return await self.store.get_or_create_conversation(
            integration=self.alias, channel=channel, tags=tags
        )

    async def update_conversation(
        self, conversation_id: str, *, tags: Mapping[str, str]
    ) -> Conversation:
        conversation = await self.store.update_conversation(conversation_id, tags=tags)
        renew("conversation", conversation)
        return conversation

    async def find_conversations(
        self, tags: Mapping[str, str], *, own: bool = False
    ) -> list[Conversation]:
        """Conversations carrying all ``tags``; with ``own``, only this integration's."""
        return await self.store.find_conversations(tags, integration=self.alias if own else None)

    # --- participants ----------------------------------------------------------------------

    async def add_participant(self, conversation_id: str, user_id: str) -> bool:
        """Make the user take part in the conversation; False when they did already."""
        return await self.store.add_participant(conversation_id, user_id)

    async def remove_participant(self, conversation_id: str, user_id: str) -> bool:
        """The user no longer takes part in the conversation; False when they did not."""
        return await self.store.remove_participant(conversation_id, user_id)

    async def list_participants(self, conversation_id: str) -> list[str]:
        """The ids of the conversation's participants, in the order they joined."""
        return await self.store.list_participants(conversation_id)

    async def list_participations(self, user_id: str) -> list[str]:
        """The ids of the conversations the user takes part in, in the order they joined."""
        return await self.store.list_participations(user_id)

    async def find_participant(
        self,
        *,
        conversation_tags: Mapping[str, str],
        user_tags: Mapping[str, str],
        own: bool = False,
    ) -> Participant | None:
        """The conversation carrying ``conversation_tags`` and its participant carrying
        ``user_tags``, in one read (with ``own``, only this integration's conversations);
        None when either is missing or the user does not take part."""
        return await self.store.find_participant(
            conversation_tags=conversation_tags,
            user_tags=user_tags,
            integration=self.alias if own else None,
        )

    # --- messages --------------------------------------------------------------------------

    async def get_message(self, message_id: str) -> Message | None:
        return await self.store.get_message(message_id)

    async def update_message(self, message_id: str, *, tags: Mapping[str, str]) -> Message:
        return await self.store.update_message(message_id, tags=tags)

    async def find_messages(self, tags: Mapping[str, str]) -> list[Message]:
        return await self.store.find_messages(tags)

    async def list_messages(
        self,
        conversation_id: str,
        *,
        cursor: str | None = None,
        limit: int = 50,
        newest_first: bool = True,
    ) -> MessagePage:
        return await self.store.list_messages(
            conversation_id, limit=limit, cursor=cursor, newest_first=newest_first
        )

    async def receive_message(
        self,
        *,
        conversation_id: str,
        user_id: str | None,
        type: str,
        payload: BaseModel | Mapping[str, Any],
        metadata: Mapping[str, Any] | None = None,
        tags: Mapping[str, str] | None = None,
        dedupe_key: str | None = None,
    ) -> Message | None:
        """Store an incoming message and queue it for the pipeline.

        ``dedupe_key`` (the provider's message id) makes delivery idempotent: a second call
        with the same key stores nothing and returns None.
        """
        runtime = self._runtime
        place = await runtime.place_of(conversation_id)
        body = runtime.validate_payload(place, type, payload)
        message = await self.store.receive(
            conversation_id=conversation_id,
            user_id=user_id,
            type=type,
            payload=body,
            metadata=metadata,
            tags=tags,
            dedupe=(f"message:{self.alias}", dedupe_key) if dedupe_key is not None else None,
            claim_for=runtime.room_for_received(),
            claimed=runtime.adopt,
            unclaimed=(
                (lambda: runtime.queued_behind(conversation_id))
                if runtime.runs_here(conversation_id)
                else None
            ),
        )
        if message is not None:
            runtime.instruments.received.labels(place[0]).inc()
        return message

    async def send_message(
        self,
        *,
        conversation_id: str,
        type: str,
        payload: BaseModel | Mapping[str, Any],
        user_id: str | None = None,
        tags: Mapping[str, str] | None = None,
        metadata: Mapping[str, Any] | None = None,
    ) -> Message | None:
        """Send a message through hooks and the conversation's integration.

        Returns the stored message, or None when a ``before_outgoing_message`` hook stopped it.
        """
        return await self._send(
            await self._conversation(conversation_id), type, payload, user_id, tags, metadata
        )

    async def _send(
        self,
        conversation: Conversation,
        type: str,
        payload: BaseModel | Mapping[str, Any],
        user_id: str | None = None,
        tags: Mapping[str, str] | None = None,
        metadata: Mapping[str, Any] | None = None,
    ) -> Message | None:
        conversation_id = conversation.id
        place = (conversation.integration, conversation.channel)
        body = self._runtime.validate_payload(place, type, payload)
        outgoing = OutgoingMessage(
            conversation_id=conversation_id,
            type=type,
            payload=body,
            user_id=user_id,
            tags=dict(tags or {}),
            metadata=dict(metadata) if metadata is not None else None,
        )
        return await self._runtime.send(outgoing, conversation)

    # --- states ----------------------------------------------------------------------------

    async def get_state(self, scope: StateScope, owner_id: str, name: str) -> Any | None:
        return await self.store.get_state(scope, owner_id, self.namespace, name)

    async def set_state(self, scope: StateScope, owner_id: str, name: str, value: Any) -> None:
        await self.store.set_state(scope, owner_id, self.namespace, name, value)

    async def update_state(
        self, scope: StateScope, owner_id: str, name: str, change: Callable[[Any | None], Any]
    ) -> Any | None:
        """Read-modify-write a state atomically: it becomes ``change(current)``, returned.

        Use it for every change that depends on the current value (a list of ids, a record
        compared before it is set): concurrent updates, in this process or another, apply one
        after the other. ``change`` must be pure (it may run more than once); returning None
        deletes the state.
        """
        return await self.store.update_state(scope, owner_id, self.namespace, name, change)

    async def delete_state(self, scope: StateScope, owner_id: str, name: str) -> None:
        await self.store.delete_state(scope, owner_id, self.namespace, name)

    # --- events ----------------------------------------------------------------------------

    async def emit_event(
        self,
        type: str,
        payload: Mapping[str, Any],
        *,
        conversation_id: str | None = None,
        user_id: str | None = None,
        dedupe_key: str | None = None,
    ) -> Event | None:
        """Record an event (named ``<alias>.<type>``) and queue it for the pipeline.

        An integration's or a plugin's event must be one its definition declares (an
        implemented interface's included), with a payload its model accepts, or
        :class:`EventError` is raised: a misspelt name or key would otherwise be stored and
        never reacted to. The payload is stored as given.

        Inside a job, emitting is a step of that job: a job that runs again does not emit it
        twice (None is returned then, as for a repeated ``dedupe_key``).
        """
        self._check_event(type, payload)
        step = current_step()
        return await self.store.emit(
            type=f"{self.alias}.{type}",
            source=self.alias,
            payload=payload,
            conversation_id=conversation_id,
            user_id=user_id,
            dedupe=(f"event:{self.namespace}", dedupe_key) if dedupe_key is not None else None,
            effect_key=step.next_key(f"event:{self.alias}.{type}") if step is not None else None,
        )

    def _check_event(self, type: str, payload: Mapping[str, Any]) -> None:
        if self._events is None:  # agent code: its events are its own to name
            return
        definition = self._events.get(type)
        if definition is None:
            close = difflib.get_close_matches(type, self._events, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise EventError(
                f"{self.kind} {self.alias!r} emits event {type!r}, which its definition does "
                f"not declare{hint}; declared: {', '.join(sorted(self._events)) or 'none'}"
            )
        try:
            definition.payload.model_validate(payload)
        except ValidationError as error:
            raise EventError(
                f"bad payload of event {type!r} from {self.kind} {self.alias!r}: "
                f"{format_validation_error(error)}"
            ) from None

    async def send_event(
        self,
        *,
        conversation_id: str,
        payload: Mapping[str, Any],
        user_id: str | None = None,
    ) -> Event | None:
        """Send a custom event (a JSON object) into a conversation, for its channel's clients.

        The event is stored (``<alias>.custom``, not queued: agents do not receive what they
        send) and handed to the channel's event sender. A channel without one takes no events:
        then ``MessageError`` is raised; ``takes_events`` asks first. Inside a job, sending is
        a step of that job: a job that runs again does not send it twice (None then).
        """
        conversation = await self._conversation(conversation_id)
        return await self._runtime.send_event(
            conversation, payload, source=self.alias, user_id=user_id
        )

    async def takes_events(self, conversation_id: str) -> bool:
        """Whether ``send_event`` can reach this conversation (its channel has an event sender)."""
        conversation = await self._conversation(conversation_id)
        return self._runtime.event_sender(conversation) is not None

    async def remember(self, key: str, *, forget_after: timedelta | None = None) -> bool:
        """True the first time this alias remembers ``key`` (replay and duplicate defence).

        ``forget_after`` bounds what is kept for keys that only matter for a while, such as
        signatures inside their timestamp window: older ones are dropped now and then, so the
        table does not grow with every webhook.
        """
        if forget_after is None:
            return await self.store.remember(self.namespace, key)
        scope = f"{self.namespace}:{int(forget_after.total_seconds())}s"
        now = datetime.now(UTC)
        if now - self._purged.get(scope, _LONG_AGO) > min(forget_after, _PURGE_EVERY):
            self._purged[scope] = now
            await self.store.forget_before(scope, now - forget_after)
        return await self.store.remember(scope, key)

    def idempotency_key(self, name: str = "") -> str:
        """A key for the outside call being made now, the same on every run of this step.

        Send it as the call's ``Idempotency-Key`` header: when a job runs again after a crash,
        an action repeats its calls with the same keys, so the outside system can drop the
        repeats. ``name`` tells apart several calls of one step. Outside a job: a new key.
        """
        return idempotency_key(name)

    async def broadcast(self, topic: str, data: Any) -> None:
        """Hand ``data`` (JSON) to this alias's ``on_broadcast`` subscribers in every process.

        For live fan-out that must not depend on which server a client is connected to (chat
        listeners); in this process it is immediate, across processes it rides PostgreSQL
        ``NOTIFY``, so it is limited to about 7,000 bytes: send an id and read the rest
        from the store when more is needed. Nothing is kept: a process that is down misses it.
        """
        text = json.dumps({"ns": self.namespace, "topic": topic, "data": data})
        if len(text.encode()) > BROADCAST_LIMIT:
            raise ValueError(
                f"a broadcast carries at most {BROADCAST_LIMIT} bytes of JSON (this one has "
                f"{len(text.encode())}): broadcast an id and read the record from the store"
            )
        await self.store.notifier.publish(SIGNALS, text)

    def on_broadcast(self, callback: Callable[[str, Any], None]) -> Callable[[], None]:
        """Call ``callback(topic, data)`` for each broadcast of this alias; returns the undo."""
        namespace = self.namespace

        def received(text: str, _remote: bool) -> None:
            message = json.loads(text)
            if message.get("ns") == namespace:
                callback(str(message["topic"]), message["data"])

        return self.store.notifier.subscribe(SIGNALS, received)

    def on_shutdown(self, callback: Callable[[], None]) -> Callable[[], None]:
        """Call ``callback()`` when the server begins to shut down, before it waits for open
        requests: end long-lived responses (event streams) there. Returns the undo."""
        return self._runtime.on_shutdown(callback)

    async def get_event(self, event_id: str) -> Event | None:
        return await self.store.get_event(event_id)

    async def schedule_event(
        self,
        type: str,
        payload: Mapping[str, Any],
        *,
        at: datetime | None = None,
        after: timedelta | float | None = None,
        conversation_id: str | None = None,
        user_id: str | None = None,
    ) -> ScheduledEvent:
        """Deliver ``<alias>.<type>`` at a time or after a delay; durable across restarts.

        Inside a job it is a step: a job that runs again gets the timer it made before.
        """
        if (at is None) == (after is None):
            raise ValueError("give exactly one of at= (an aware datetime) or after= (a delay)")
        if after is not None:
            delay = after if isinstance(after, timedelta) else timedelta(seconds=after)
            at = datetime.now(UTC) + delay
        assert at is not None
        step = current_step()
        return await self.store.schedule(
            type=f"{self.alias}.{type}",
            source=self.alias,
            payload=payload,
            due_at=at,
            conversation_id=conversation_id,
            user_id=user_id,
            effect_key=step.next_key(f"timer:{self.alias}.{type}") if step is not None else None,
        )

    async def cancel_event(self, scheduled_event_id: str) -> bool:
        return await self.store.cancel_scheduled(scheduled_event_id)

    async def _conversation(self, conversation_id: str) -> Conversation:
        conversation = await self.store.get_conversation(conversation_id)
        if conversation is None:
            raise NotFoundError("conversation", conversation_id)
        return conversation


def validate_message(model: type[BaseModel], type: str, payload: Any) -> dict[str, Any]:
    """The payload as the channel's model accepts it, in wire (camelCase) form."""
    try:
        data = payload.model_dump() if isinstance(payload, BaseModel) else payload
        return model.model_validate(data).model_dump(by_alias=True, exclude_none=True)
    except ValidationError as error:
        raise MessageError(
            f"bad {type!r} message payload: {format_validation_error(error)}"
        ) from None
