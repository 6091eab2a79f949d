"""Fan-out of conversation signals to server-sent-event listeners, in every server process.

``Signals`` sends each signal with the host's ``broadcast`` (PostgreSQL ``NOTIFY`` when several
processes share the database), and each process's ``Broadcaster`` hands it to the listeners
connected there: a client listening on one server receives what another produced. A message or
event too large for one broadcast travels as its id, and each process reads it from the store.

Each listener has a bounded queue. A listener too slow to drain it is disconnected rather than
allowed to grow memory without bound; since every signal describes something stored first, a
client that reconnects and lists the conversation misses nothing.

A stream catches up (``Listener.catch_up``) on the signals of records stored in its
conversation moments before it opened, so a client that sends a message and then opens the
stream (the official client's suite does) sees the message even when the server stored and
signalled it first. A record the stream carried live is not caught up again, and one caught up
is not sent again live.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, Protocol

__all__ = ["Broadcaster", "Listener", "Relay", "Signals"]

logger = logging.getLogger("patchwire.chat")

Loader = Callable[[str, str], Awaitable[dict[str, Any] | None]]
"""``(signal type, record id)`` -> the signal's data, read from the store (None if gone)."""


class Relay(Protocol):
    """What ``Signals`` needs of the host: ``Context.broadcast`` and ``on_broadcast``."""

    async def broadcast(self, topic: str, data: Any) -> None: ...
    def on_broadcast(self, callback: Callable[[str, Any], None]) -> Callable[[], None]: ...
    def on_shutdown(self, callback: Callable[[], None]) -> Callable[[], None]: ...


KEEPALIVE = "data: ping\n\n"
"""A message event (not an SSE comment): the official client's watchdog only counts those."""


def _frame(signal_type: str, data: dict[str, Any]) -> str:
    """A signal as one SSE message event."""
    return f"data: {json.dumps({'type': signal_type, 'data': data})}\n\n"


def _key(signal_type: str, data: dict[str, Any]) -> str:
    """What tells a record's signal from another's: its type and the record's id."""
    return f"{signal_type}:{data.get('id')}"


class Listener:
    """One open stream of one user on one conversation."""

    def __init__(self, user_id: str, queue_size: int) -> None:
        self.user_id = user_id
        self._limit = queue_size
        # One place more than the limit, so the end marker always fits.
        self._queue: asyncio.Queue[str | None] = asyncio.Queue(maxsize=queue_size + 1)
        self._live: set[str] | None = set()  # signals offered before the catch-up, by key
        self._caught_up: set[str] = set()  # signals the catch-up sent, not to send again

    def offer(self, signal_type: str, data: dict[str, Any]) -> bool:
        """Queue a signal; False (and the stream is ended) when the listener has fallen
        behind."""
        key = _key(signal_type, data)
        if self._live is not None:
            if len(self._live) < self._limit:  # more would overflow the queue anyway
                self._live.add(key)
        elif key in self._caught_up:
            self._caught_up.discard(key)
            return True
        if self._queue.qsize() >= self._limit:
            while not self._queue.empty():
                self._queue.get_nowait()
            self.end()
            return False
        self._queue.put_nowait(_frame(signal_type, data))
        return True

    def catch_up(self, signals: list[tuple[str, dict[str, Any]]]) -> None:
        """Send next, oldest first and before the live signals still queued, the signals of
        records stored just before the stream opened, except those it carried already; a
        later live one of them is dropped."""
        live, self._live = self._live or set(), None
        missed = [(kind, data) for kind, data in signals if _key(kind, data) not in live]
        if not missed:
            return
        queued: list[str | None] = []
        while not self._queue.empty():
            queued.append(self._queue.get_nowait())
        room = max(self._limit - len(queued), 0)
        missed = missed[len(missed) - room :] if room else []
        self._caught_up = {_key(kind, data) for kind, data in missed}
        for waiting in [_frame(kind, data) for kind, data in missed] + queued:
            self._queue.put_nowait(waiting)

    def end(self) -> None:
        """End the stream after the frames already queued."""
        self._queue.put_nowait(None)

    async def frames(self, keepalive_seconds: float) -> AsyncIterator[str]:
        """The SSE frames to write, with a keep-alive after each quiet period."""
        while True:
            try:
                # ``asyncio.timeout``, not ``wait_for``: a frame reaches the socket in the loop
                # iteration after it was queued, not two or three later (wait_for runs the get
                # as a task of its own)
                async with asyncio.timeout(keepalive_seconds):
                    frame = await self._queue.get()
            except TimeoutError:
                yield KEEPALIVE
                continue
            if frame is None:
                return
            yield frame


class Broadcaster:
    """Conversation id -> open listeners."""

    def __init__(self, queue_size: int) -> None:
        self._queue_size = queue_size
        self._listeners: dict[str, set[Listener]] = {}
        self._ended = False

    def listener_count(self, conversation_id: str) -> int:
        return len(self._listeners.get(conversation_id, ()))

    def publish(self, conversation_id: str, signal_type: str, data: dict[str, Any]) -> None:
        listeners = self._listeners.get(conversation_id)
        if not listeners:
            return
        for listener in list(listeners):
            if not listener.offer(signal_type, data):
                listeners.discard(listener)

    def open(self, conversation_id: str, user_id: str) -> Listener:
        """Start listening now, before the response starts, so no signal slips in between."""
        listener = Listener(user_id, self._queue_size)
        if self._ended:
            listener.end()
            return listener
        self._listeners.setdefault(conversation_id, set()).add(listener)
        return listener

    def close(self, conversation_id: str, listener: Listener) -> None:
        listeners = self._listeners.get(conversation_id)
        if listeners is None:
            return
        listeners.discard(listener)
        if not listeners:
            del self._listeners[conversation_id]

    def disconnect(self, conversation_id: str | None, user_id: str | None) -> int:
        """End the streams of a user who left a conversation, of every listener to a deleted
        conversation (``user_id`` None) or of a deleted user anywhere (``conversation_id``
        None); how many there were.

        They stop receiving at once: nothing published after this call reaches them.
        """
        ended = 0
        conversations = list(self._listeners) if conversation_id is None else [conversation_id]
        for conversation in conversations:
            for listener in list(self._listeners.get(conversation, ())):
                if user_id is None or listener.user_id == user_id:
                    listener.end()
                    self.close(conversation, listener)
                    ended += 1
        return ended

    def end_all(self) -> None:
        """End every stream, and those opened from now on: the server is shutting down."""
        self._ended = True
        for conversation_id, listeners in list(self._listeners.items()):
            for listener in list(listeners):
                listener.end()
                self.close(conversation_id, listener)


class Signals:
    """Signals for the listeners of every process sharing the agent's database."""

    def __init__(self, relay: Relay, listeners: Broadcaster, load: Loader) -> None:
        self.listeners = listeners
        self._relay = relay
        self._load = load
        self._loading: set[asyncio.Task[None]] = set()
        relay.on_broadcast(self._received)
        relay.on_shutdown(listeners.end_all)

    async def publish(self, conversation_id: str, signal_type: str, data: dict[str, Any]) -> None:
        signal = {"conversationId": conversation_id, "type": signal_type}
        try:
            await self._relay.broadcast("signal", {**signal, "data": data})
        except ValueError:  # too large for one broadcast: send the id, listeners read the rest
            await self._relay.broadcast("signal", {**signal, "id": data["id"]})

    async def disconnect(
        self, conversation_id: str | None = None, user_id: str | None = None
    ) -> None:
        """End streams wherever they are connected, as :meth:`Broadcaster.disconnect` says:
        a removed participant's, a deleted conversation's, a deleted user's."""
        await self._relay.broadcast(
            "disconnect", {"conversationId": conversation_id, "userId": user_id}
        )

    def _received(self, topic: str, data: Any) -> None:
        if topic == "disconnect":
            self.listeners.disconnect(data.get("conversationId"), data.get("userId"))
            return
        conversation_id = str(data["conversationId"])
        if "data" in data:
            self.listeners.publish(conversation_id, str(data["type"]), data["data"])
        elif self.listeners.listener_count(conversation_id):
            task = asyncio.get_running_loop().create_task(
                self._publish_loaded(conversation_id, str(data["type"]), str(data["id"]))
            )
            self._loading.add(task)
            task.add_done_callback(self._loading.discard)

    async def _publish_loaded(self, conversation_id: str, signal_type: str, record_id: str) -> None:
        try:
            found = await self._load(signal_type, record_id)
        except Exception:
            logger.exception("reading %s %s for its listeners failed", signal_type, record_id)
            return
        if found is not None:
            self.listeners.publish(conversation_id, signal_type, found)
