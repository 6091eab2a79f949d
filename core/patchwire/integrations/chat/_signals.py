"""Fan-out of conversation signals to server-sent-event listeners in this process.

Each listener has a bounded queue. A listener too slow to drain it is disconnected rather than
allowed to grow memory without bound; since every signal describes something stored first, a
client that reconnects and lists the conversation misses nothing.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

__all__ = ["Broadcaster", "Listener"]

KEEPALIVE = "data: ping\n\n"
"""A message event (not an SSE comment): the official client's watchdog only counts those."""


class Listener:
    """One open stream of one user on one conversation."""

    def __init__(self, user_id: str, queue_size: int) -> None:
        self.user_id = user_id
        self._limit = queue_size
        # One place more than the limit, so the end marker always fits.
        self._queue: asyncio.Queue[str | None] = asyncio.Queue(maxsize=queue_size + 1)

    def offer(self, frame: str) -> bool:
        """Queue a frame; False (and the stream is ended) when the listener has fallen behind."""
        if self._queue.qsize() >= self._limit:
            while not self._queue.empty():
                self._queue.get_nowait()
            self.end()
            return False
        self._queue.put_nowait(frame)
        return True

    def end(self) -> None:
        """End the stream after the frames already queued."""
        self._queue.put_nowait(None)

    async def frames(self, keepalive_seconds: float) -> AsyncIterator[str]:
        """The SSE frames to write, with a keep-alive after each quiet period."""
        while True:
            try:
                frame = await asyncio.wait_for(self._queue.get(), keepalive_seconds)
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

    def listener_count(self, conversation_id: str) -> int:
        return len(self._listeners.get(conversation_id, ()))

    def publish(self, conversation_id: str, signal_type: str, data: dict[str, Any]) -> None:
        listeners = self._listeners.get(conversation_id)
        if not listeners:
            return
        frame = f"data: {json.dumps({'type': signal_type, 'data': data})}\n\n"
        for listener in list(listeners):
            if not listener.offer(frame):
                listeners.discard(listener)

    def open(self, conversation_id: str, user_id: str) -> Listener:
        """Start listening now, before the response starts, so no signal slips in between."""
        listener = Listener(user_id, self._queue_size)
        self._listeners.setdefault(conversation_id, set()).add(listener)
        return listener

    def close(self, conversation_id: str, listener: Listener) -> None:
        listeners = self._listeners.get(conversation_id)
        if listeners is None:
            return
        listeners.discard(listener)
        if not listeners:
            del self._listeners[conversation_id]

    def disconnect(self, conversation_id: str, user_id: str) -> int:
        """End the streams of a user who left the conversation; how many there were.

        They stop receiving at once: nothing published after this call reaches them.
        """
        listeners = [
            listener
            for listener in self._listeners.get(conversation_id, ())
            if listener.user_id == user_id
        ]
        for listener in listeners:
            listener.end()
            self.close(conversation_id, listener)
        return len(listeners)
